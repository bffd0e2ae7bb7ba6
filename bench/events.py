"""Event webhooks: N events to a loopback receiver through a receiver outage, a kill -9 of a worker
and a Redis flush; none may be lost (at least once: duplicates are counted, not failures).

The events are recorded as the product records them (record_events, a batch of 10,000 at a time,
into the outbox) for one endpoint on a receiver in its own process (bench/event_receiver.py,
which verifies every signature with the standardwebhooks library and counts each webhook-id
once). Two `rqworker high default events` processes deliver them, and the real scheduler
(`rqcron messaging_site.cron`) runs the safety-net tick. Once a quarter has arrived, the receiver
answers 503 for the outage; five seconds into it one worker and its work horse are killed with
SIGKILL and Redis is flushed, and a new worker is started. Once every event arrived, the bench
waits for the outbox to mark them all delivered (a batch is marked after its last POST; an event a
killed worker sent goes again once its claim is stale): "outbox_when_all_arrived" is the outbox at
that moment, "outbox" after settling, with what was still pending by why it waits.

    make bench ARGS=events                                  # 1,000,000 events, a 60 s outage
    EVENTS_BENCH_OUTAGE=600 make bench ARGS=events          # the issue's 10-minute outage
    python -m bench.events --events 3000 --outage 8 --per-request 1 --json  # tests/test_event_faults.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from bench.harness import BASE_DIR, free_port, prepare_django

WORKER_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on loopback
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_CLAIM_STALE_SECONDS": "20",  # a killed worker's claim is taken again after this
    "WEBHOOK_JOB_BUDGET_SECONDS": "30",
    "LOG_LEVEL": "WARNING",
}
RECORD_BATCH = 10_000
# The endpoint's events_per_request: arrays of 50 (EVENTS_BENCH_PER_REQUEST=1 for one event a POST).
PER_REQUEST = int(os.environ.get("EVENTS_BENCH_PER_REQUEST", "50"))
TARGET_LOST = 0
# How long the outbox may take to mark what arrived: a killed worker's claim is stale after
# WEBHOOK_CLAIM_STALE_SECONDS, then a job (at most WEBHOOK_JOB_BUDGET_SECONDS) sends it again.
SETTLE_SECONDS = (
    int(WORKER_SETTINGS["WEBHOOK_CLAIM_STALE_SECONDS"]) + int(WORKER_SETTINGS["WEBHOOK_JOB_BUDGET_SECONDS"]) + 10
)


class ReceiverProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bench.event_receiver", "--port", str(self.port)]
        self.process = subprocess.Popen(command, cwd=BASE_DIR, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"The receiver on port {self.port} exited ({self.process.returncode}).")
            try:
                if self.stats()["pid"] == self.process.pid:
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        raise SystemExit("The receiver did not start.")

    def call(self, method: str, path: str, **params) -> dict:
        import requests

        return requests.request(method, f"{self.url}{path}", params=params, timeout=30).json()

    def stats(self) -> dict:
        return self.call("GET", "/control/stats")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Processes:
    """The workers and the scheduler, each the leader of its own process group."""

    def __init__(self) -> None:
        self.env = {**os.environ, **WORKER_SETTINGS}
        self.running: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        command = [sys.executable, "manage.py", *args]
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.running.append(process)
        return process

    def worker(self) -> subprocess.Popen:
        return self.start("rqworker", "high", "default", "events", "-v", "0")

    def kill(self, process: subprocess.Popen) -> None:
        from bench.chaos import children_of

        for child in children_of(process.pid):
            os.kill(child, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def record(count: int, url: str, per_request: int) -> tuple[str, float]:
    """The endpoint (its secret) and the seconds taken to record ``count`` events."""
    from django.db import transaction

    from campaigns.events import Event, record_events
    from campaigns.events.signing import new_secret
    from campaigns.models import WebhookEndpoint

    secret = new_secret()
    WebhookEndpoint.objects.create(
        url=f"{url}/hooks", secret=secret, event_types=["message.delivered"], events_per_request=per_request
    )
    started = time.monotonic()
    for start in range(0, count, RECORD_BATCH):
        size = min(RECORD_BATCH, count - start)
        events = [
            Event("message.delivered", {"message_id": n, "status": "delivered", "to": "+447911123456"})
            for n in range(start, start + size)
        ]
        with transaction.atomic():
            record_events(events)
    return secret, time.monotonic() - started


def run_scenario(count: int, outage: float, workers_count: int = 2, per_request: int = PER_REQUEST) -> dict:
    os.environ.update(WORKER_SETTINGS)
    prepare_django()
    import django_rq

    receiver = ReceiverProcess()
    processes = Processes()
    report: dict = {"events": count, "outage_seconds": outage}
    try:
        secret, recording = record(count, receiver.url, per_request)
        receiver.call("POST", "/control/secret", value=secret)
        # The receiver goes down by itself once a quarter arrived: a fast run cannot slip past it.
        receiver.call("POST", "/control/down", after=count // 4, seconds=outage)
        report["recorded_per_second"] = round(count / recording)
        started = time.monotonic()
        workers = [processes.worker() for _ in range(workers_count)]
        processes.start("rqcron", "messaging_site.cron", "--logging-level", "WARNING")
        from campaigns.events.jobs import enqueue_delivery

        enqueue_delivery()  # as record_events' kick does (its jobs from the recording above are queued too)
        outage_at = fault_at = back_at = None
        deadline = started + outage + max(300, count / 200)
        while time.monotonic() < deadline:
            stats = receiver.stats()
            arrived, now = stats["unique"], time.monotonic()
            if outage_at is None and stats["down_for_seconds_yet"] is not None:
                outage_at = now - stats["down_for_seconds_yet"]
                report["before_outage_per_second"] = round(count // 4 / max(0.001, outage_at - started))
            if arrived >= count:
                break
            if outage_at is not None and fault_at is None and now - outage_at >= min(5, outage / 2):
                fault_at = now
                processes.kill(workers[0])
                django_rq.get_connection("default").flushdb()  # every queued job gone
                workers[0] = processes.worker()
            if outage_at is not None and back_at is None and now - outage_at >= outage:
                back_at = now
                report["arrived_when_back"] = arrived
            time.sleep(0.5)
        finished = time.monotonic()
        report["outbox_when_all_arrived"] = outbox_states()
        report.update(settle_outbox())
        stats = receiver.stats()  # after settling: an event sent again meanwhile counts as a duplicate
        report.update(
            arrived=stats["unique"],
            lost=count - stats["unique"],
            duplicates=stats["received"] - stats["unique"],
            bad_signatures=stats["bad_signatures"],
            refused_while_down=stats["refused_while_down"],
            seconds=round(finished - started, 1),
            catch_up_seconds=round(finished - back_at, 1) if back_at else None,
            delivered_per_second=round(stats["unique"] / max(0.001, finished - started - outage)),
        )
        report["outbox"] = outbox_states()
    finally:
        processes.stop_all()
        receiver.stop()
        forget_events()
    return report


def settle_outbox() -> dict:
    """Wait until no event is pending in the outbox: the moment the last event arrives, a worker may
    still be writing its batch's outcomes (a claim of a thousand is marked delivered only after its
    last POST), and an event that arrived from a worker killed before it wrote is sent again once its
    claim is stale. What is still pending at the deadline is reported, by why it waits."""
    from django.utils import timezone

    from campaigns.models import WebhookEvent

    started = time.monotonic()
    pending = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING)
    settle_until = started + SETTLE_SECONDS
    while pending.exists() and time.monotonic() < settle_until:
        time.sleep(0.5)
    now = timezone.now()
    return {
        "outbox_settled_seconds": round(time.monotonic() - started, 1),
        "pending_claimed": pending.filter(claim_token__isnull=False).count(),
        "pending_due": pending.filter(claim_token__isnull=True, next_attempt_at__lte=now).count(),
        "pending_not_yet_due": pending.filter(claim_token__isnull=True, next_attempt_at__gt=now).count(),
    }


def outbox_states() -> dict[str, int]:
    from django.db.models import Count

    from campaigns.models import WebhookEvent

    return dict(
        WebhookEvent.objects.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )


def forget_events() -> None:
    """The bench's rows go (they may be in a real DATABASE_URL)."""
    from django.db import connection

    from campaigns.models import WebhookAttempt, WebhookEndpoint, WebhookEvent

    with connection.cursor() as cursor:
        for model in (WebhookAttempt, WebhookEvent):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
    WebhookEndpoint.objects.all().delete()


def run() -> list[dict]:
    count = int(os.environ.get("EVENTS_BENCH_COUNT", "1000000"))
    outage = float(os.environ.get("EVENTS_BENCH_OUTAGE", "60"))
    report = run_scenario(count, outage)
    note = (
        f"{report['arrived']:,} of {count:,} arrived through a {outage:g} s outage, a kill -9 and a Redis flush; "
        f"{report['duplicates']:,} twice (at least once), {report['bad_signatures']} bad signatures; "
        f"caught up {report['catch_up_seconds']} s after the receiver was back; the outbox settled "
        f"{report['outbox_settled_seconds']} s after the last arrived ({report['outbox']})"
    )
    settled = report["outbox"] == {"delivered": count}  # pending after settling: sent again forever
    sound = report["lost"] == TARGET_LOST and report["bad_signatures"] == 0 and settled
    return [
        {"name": "events lost", "figure": report["lost"], "unit": "events", "target": "0",
         "ratio": 1.0 if sound else 0.0, "note": note},
        {"name": "delivered (receiver up)", "figure": report["delivered_per_second"], "unit": "events/s",
         "target": "", "ratio": 1.0, "note": f"before the outage: {report.get('before_outage_per_second')} events/s; "
         f"{report['seconds']} s in all"},
        {"name": "recorded", "figure": report["recorded_per_second"], "unit": "events/s", "target": "",
         "ratio": 1.0, "note": f"record_events, {RECORD_BATCH:,} a transaction"},
        {"name": "events per POST", "figure": PER_REQUEST, "unit": "events", "target": "", "ratio": 1.0,
         "note": "the endpoint's events_per_request (EVENTS_BENCH_PER_REQUEST)"},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-request", type=int, default=PER_REQUEST, help="the endpoint's events_per_request")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run_scenario(args.events, args.outage, args.workers, args.per_request)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

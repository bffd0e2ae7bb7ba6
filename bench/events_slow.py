"""Event webhooks to a slow receiver: a claim that takes longer than the stale-claim limit must not
be sent twice by a second worker, and nothing may be lost.

A receiver that answers every POST just under the workers' timeout makes a claim of a thousand
events (sent WEBHOOK_CONCURRENCY at a time) last longer than WEBHOOK_CLAIM_STALE_SECONDS; before
the workers renewed their claims, another worker then took the same events and sent them again.
The timings are scaled down (a 2 s timeout, answers after 1.2 s, a 2 s stale limit, a 3 s job
budget) so the run takes seconds; the shape is production's (10 s, up to 10 s, 300 s, 60 s): a
claim outlasts the stale limit. An answer too close to the timeout would time out on a loaded
machine and be sent again rightly (at least once); "attempts" says how every POST went.
Two `rqworker high default events` processes and the real scheduler (its tick every 5 s enqueues a
job while events are due) deliver them; the receiver counts every event id it got more than once.

    make bench ARGS=events_slow
    python -m bench.events_slow --events 240 --json      # tests/test_event_faults.py
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.events import Processes, ReceiverProcess, forget_events, outbox_states, record, settle_outbox
from bench.harness import prepare_django

SLOW_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on loopback
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_CLAIM_STALE_SECONDS": "2",
    "WEBHOOK_CONCURRENCY": "16",
    "WEBHOOK_JOB_BUDGET_SECONDS": "3",
    "LOG_LEVEL": "WARNING",
}
ANSWER_SECONDS = 1.2  # slow, yet well within the timeout on a loaded machine


def run_scenario(count: int, answer_seconds: float = ANSWER_SECONDS, workers_count: int = 2) -> dict:
    os.environ.update(SLOW_SETTINGS)
    prepare_django()
    receiver = ReceiverProcess()
    processes = Processes()
    processes.env.update(SLOW_SETTINGS)
    report: dict = {"events": count, "answer_seconds": answer_seconds, "settings": SLOW_SETTINGS}
    try:
        secret, _ = record(count, receiver.url, 1)
        receiver.call("POST", "/control/secret", value=secret)
        receiver.call("POST", "/control/slow", seconds=answer_seconds)
        started = time.monotonic()
        for _ in range(workers_count):
            processes.worker()
        processes.start("rqcron", "messaging_site.cron", "--logging-level", "WARNING")
        from campaigns.events.jobs import enqueue_delivery

        enqueue_delivery()
        deadline = started + 60 + count * answer_seconds / int(SLOW_SETTINGS["WEBHOOK_CONCURRENCY"])
        while time.monotonic() < deadline and receiver.stats()["unique"] < count:
            time.sleep(0.5)
        finished = time.monotonic()
        report.update(settle_outbox())
        # A late second send of a stolen claim arrives after its first: wait out one more stale limit.
        time.sleep(int(SLOW_SETTINGS["WEBHOOK_CLAIM_STALE_SECONDS"]) + answer_seconds * 2)
        stats = receiver.stats()
        report.update(
            arrived=stats["unique"],
            lost=count - stats["unique"],
            duplicates=stats["received"] - stats["unique"],
            bad_signatures=stats["bad_signatures"],
            seconds=round(finished - started, 1),
            delivered_per_second=round(stats["unique"] / max(0.001, finished - started), 1),
            outbox=outbox_states(),
            attempts=attempt_outcomes(),
        )
    finally:
        processes.stop_all()
        receiver.stop()
        forget_events()
    return report


def attempt_outcomes() -> dict[str, int]:
    """Every POST the workers made, by its status code or error."""
    from collections import Counter

    from campaigns.models import WebhookAttempt

    return dict(
        Counter(str(code or error) for code, error in WebhookAttempt.objects.values_list("status_code", "error"))
    )


def run() -> list[dict]:
    count = int(os.environ.get("EVENTS_SLOW_BENCH_COUNT", "400"))
    report = run_scenario(count)
    note = (
        f"{report['arrived']} of {count} arrived, {report['duplicates']} twice, answered after "
        f"{ANSWER_SECONDS} s each (timeout {SLOW_SETTINGS['WEBHOOK_TIMEOUT_SECONDS']} s, stale claims after "
        f"{SLOW_SETTINGS['WEBHOOK_CLAIM_STALE_SECONDS']} s); outbox {report['outbox']}"
    )
    sound = report["lost"] == 0 and report["duplicates"] == 0 and report["outbox"] == {"delivered": count}
    return [
        {"name": "sent twice or lost (slow receiver)", "figure": report["lost"] + report["duplicates"],
         "unit": "events", "target": "0", "ratio": 1.0 if sound else 0.0, "note": note},
        {"name": "delivered (slow receiver)", "figure": report["delivered_per_second"], "unit": "events/s",
         "target": "", "ratio": 1.0, "note": f"{report['seconds']} s in all, two workers"},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--answer-seconds", type=float, default=ANSWER_SECONDS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run_scenario(args.events, args.answer_seconds, args.workers)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

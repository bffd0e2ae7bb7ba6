"""Receipts through faults: every receipt a webhook answered 2xx ends applied exactly once.

Delivery reports for N sent messages are pushed to a sendbulk channel's real webhook view (each
report twice, as gateways retry), and answered 200 before anything applies them. Then the real
`rqcron messaging_site.cron` and an `rqworker receiving` process apply them in batches, and a fault
strikes part-way:

- ``kill``: the worker and its work horse are killed with SIGKILL in the middle of the backlog;
  another worker is started.
- ``redis``: Redis is flushed (queued jobs, the job's lease and the counters go) with rows waiting.

More reports are pushed after the fault. The report says how every message ended, how many
message.delivered events the customers' outbox holds per message (campaigns/events/: written in the
batch's transaction, so a batch applied twice would show twice), and the Redis counter of delivered
receipts (after the commit, so a kill between the commit and the count loses at most that batch's
count; a Redis flush resets them, as Prometheus expects of a counter).

    python -m bench.receiving_faults --fault kill --messages 6000 --json

Run by tests/test_receiving_faults.py (a database the workers can share: DATABASE_URL, or a SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter

from bench.chaos import WORKER_SETTINGS, Workers
from bench.harness import BASE_DIR, prepare_django

PUSH = 100  # reports per push (one INSERT each)


class ReceivingWorkers(Workers):
    """`rqworker receiving` processes (the queue rqcron puts the receiving job on)."""

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "LOG_LEVEL": "WARNING", **self.settings}
        command = [sys.executable, "manage.py", "rqworker", "receiving", "-v", "0"]
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process


def start_cron() -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "manage.py", "rqcron", "messaging_site.cron", "--logging-level", "WARNING"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def build(messages: int):
    """A sendbulk channel with ``messages`` sent messages, and an endpoint that wants message.delivered."""
    from campaigns.events.signing import new_secret
    from campaigns.models import OutboundMessage, WebhookEndpoint
    from providers.models import Channel

    tag = secrets.token_hex(3)
    channel = Channel.objects.create(
        name=f"Receiving faults {tag}", provider="sendbulk", sender="BENCH", api_base_url="http://127.0.0.1:9/api/"
    )
    for start in range(0, messages, 5000):
        OutboundMessage.objects.bulk_create(
            OutboundMessage(channel=channel, to=f"+2547{i:08d}", status="sent", provider_message_id=f"{tag}-{i}")
            for i in range(start, min(messages, start + 5000))
        )
    endpoint = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hooks", secret=new_secret(), event_types=["message.delivered"]
    )
    return channel, endpoint, tag


def push_reports(channel, tag: str, numbers: range) -> int:
    """POST the reports to the real webhook view, PUSH a request; every answer must be 200."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    url = f"/webhooks/sendbulk/{channel.webhook_token}/dlr"
    acknowledged = 0
    for start in range(numbers.start, numbers.stop, PUSH):
        reports = [
            {"description": "DeliveredToTerminal", "messageid": f"{tag}-{i}"}
            for i in range(start, min(numbers.stop, start + PUSH))
        ]
        response = client.post(url, json.dumps(reports), content_type="application/json")
        assert response.status_code == 200, response.content
        acknowledged += response.json()["taken"]
    return acknowledged


def waiting() -> int:
    from providers.models import ReceivedEvent

    return ReceivedEvent.objects.count()


def run_scenario(fault: str, messages: int) -> dict:
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    settings_for_workers = {**WORKER_SETTINGS, "RECEIVING_BATCH_SIZE": "500", "RECEIVING_IDLE_SECONDS": "1"}
    os.environ.update(settings_for_workers)
    prepare_django()
    import django_rq
    from django.db import connection

    from campaigns.models import OutboundMessage, WebhookEndpoint, WebhookEvent
    from campaigns.pipeline.counters import COUNTERS

    redis = django_rq.get_connection("default")
    redis.delete(COUNTERS)
    channel, endpoint, tag = build(messages)
    first_wave = range(0, messages * 3 // 4)
    result: dict = {"database": connection.vendor, "fault": fault, "messages": messages}
    # Each report twice: the gateway's retry must change nothing.
    result["acknowledged"] = push_reports(channel, tag, first_wave) + push_reports(channel, tag, first_wave)
    result["waiting_before"] = waiting()
    workers = ReceivingWorkers(settings_for_workers)
    cron = start_cron()
    try:
        first = workers.start()
        started = time.monotonic()
        # Strike as soon as the first batch has committed, in the middle of the next one: a worker
        # drains a few thousand receipts in a fraction of a second, so a later strike can find none left.
        while waiting() >= result["waiting_before"] and time.monotonic() < started + 120:
            time.sleep(0.01)
        result["waiting_at_fault"] = waiting()
        if fault == "kill":
            workers.kill(first)
            workers.start()
        else:
            redis.flushdb()
        fault_at = time.monotonic()
        # Receipts keep coming after the fault, and are answered as before.
        second_wave = range(first_wave.stop, messages)
        result["acknowledged"] += push_reports(channel, tag, second_wave) + push_reports(channel, tag, second_wave)
        while waiting() and time.monotonic() < fault_at + 180:
            time.sleep(0.2)
        result["seconds_after_fault"] = round(time.monotonic() - fault_at, 1)
        result["waiting_after"] = waiting()
        rows = OutboundMessage.objects.filter(channel=channel)
        result["statuses"] = dict(Counter(rows.values_list("status", flat=True)))
        told = Counter(
            WebhookEvent.objects.filter(endpoint=endpoint, type="message.delivered").values_list(
                "payload__data__message_id", flat=True
            )
        )
        result["messages_told_delivered"] = len(told)
        result["told_more_than_once"] = sum(1 for n in told.values() if n > 1)
        counted = redis.hget(COUNTERS, f"{channel.pk}:delivered")
        result["delivered_counter"] = int(counted or 0)
    finally:
        os.killpg(cron.pid, 15)
        cron.wait(20)
        workers.stop_all()
        redis.flushdb()
        WebhookEvent.objects.filter(endpoint=endpoint).delete()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        OutboundMessage.objects.filter(channel=channel).delete()
        channel.delete()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=["kill", "redis"], default="kill")
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_scenario(args.fault, args.messages)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

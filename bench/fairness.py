"""Promptness beside a campaign: one worker process, a campaign running on a channel, and then a
single API message on the same channel and the reconciler's periodic runs.

A Twilio channel points at bench/endpoint.py (strict mode: it counts per message id and checks the
channel's rate); one `rqworker high default --with-scheduler` process sends a list campaign at the
channel's rate. A few seconds in, this process sends one message the way POST /message does (the
shared drain job on the `high` queue) and enqueues the reconciler on `high` every two seconds, as
rqcron does. It reports how long the single message took to be sent, how far the campaign had got
by then, and how long each reconciler run waited in the queue before a worker started it.

    python -m bench.fairness --recipients 3000 --json       one JSON line (tests/test_fairness.py)
    python -m bench fairness                                 the two figures in the bench table
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter

from bench.chaos import Workers, build_campaign, forget
from bench.harness import prepare_django

PORT = int(os.environ.get("BENCH_FAIRNESS_PORT", "9840"))
RATE = 100.0  # msg/s: 3,000 recipients take half a minute
RECONCILE_EVERY = 2.0


def run_scenario(recipients: int) -> dict:
    prepare_django()
    import django_rq
    from django.db import transaction

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign, OutboundMessage
    from campaigns.pipeline.batching import send_soon
    from campaigns.pipeline.jobs import reconcile

    endpoint = EndpointProcess(0.02, port=PORT, extra=["--strict", "--rate-limit", str(RATE)])
    campaign, prefix = build_campaign(recipients, endpoint.url, RATE)
    workers = Workers()
    high = django_rq.get_queue("high")
    reconciles = []
    single = None
    try:
        campaign.launch()
        workers.start()
        started = time.monotonic()
        deadline = started + recipients / RATE * 3 + 60
        while endpoint.accepted() < recipients / 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        with transaction.atomic():
            single = OutboundMessage.send_one(
                channel=campaign.channel, to="+14155550199", text="Your code is 1234", enqueue=False
            )
            send_soon(single.pk)  # as POST /message does, after the commit
        asked = time.monotonic()
        single_seconds = None
        campaign_share_then = None
        next_reconcile = asked
        while time.monotonic() < deadline:
            now = time.monotonic()
            if single_seconds is None:
                status = OutboundMessage.objects.values_list("status", flat=True).get(pk=single.pk)
                if status == OutboundMessage.Status.SENT:
                    single_seconds = now - asked
                    campaign_share_then = campaign.messages.filter(status="sent").count() / recipients
            if now >= next_reconcile:
                reconciles.append(high.enqueue(reconcile).id)
                next_reconcile = now + RECONCILE_EVERY
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.COMPLETED and single_seconds is not None:
                break
            time.sleep(0.05)
        finished = time.monotonic()
        # The last run may have been enqueued a moment ago: give it time to start before it counts
        # as never started.
        waits = reconcile_waits(reconciles, high.connection, settle=10)
        report = endpoint.report()
        statuses = Counter(campaign.messages.values_list("status", flat=True))
        return {
            "recipients": recipients,
            "rate": RATE,
            "campaign": campaign.status,
            "statuses": dict(statuses),
            "campaign_seconds": round(finished - started, 1),
            "single_message_seconds": None if single_seconds is None else round(single_seconds, 2),
            "campaign_share_sent_when_single_went": campaign_share_then,
            "reconciler_runs": len(waits),
            "reconciler_longest_wait_seconds": round(max(waits, default=0.0), 2),
            "duplicates": len(report["duplicates"]),
            "over_rate": report["over_rate"],
        }
    finally:
        workers.stop_all()
        endpoint.stop()
        if single is not None:
            OutboundMessage.objects.filter(pk=single.pk).delete()
        django_rq.get_connection("default").flushdb()
        forget(campaign, prefix)


def run() -> list[dict]:
    """For `make bench`: the two waits, against a target of a few seconds."""
    result = run_scenario(3000)
    single = result["single_message_seconds"] or float("inf")
    waited = result["reconciler_longest_wait_seconds"]
    share = result["campaign_share_sent_when_single_went"]
    return [
        {
            "name": "single API message beside a 3,000-recipient campaign, one worker",
            "figure": single,
            "unit": "s",
            "target": "<= 5 s",
            "ratio": 5 / single if single else 1.0,
            "note": f"campaign {share or 0:.0%} sent by then, completed in {result['campaign_seconds']} s",
        },
        {
            "name": "reconciler's longest wait in the queue beside that campaign",
            "figure": waited,
            "unit": "s",
            "target": "<= 5 s",
            "ratio": 5 / waited if waited else 1.0,
            "note": f"{result['reconciler_runs']} runs, one every {RECONCILE_EVERY:.0f} s",
        },
    ]


def reconcile_waits(job_ids: list[str], connection, settle: float = 0.0) -> list[float]:
    """Seconds each reconciler job waited between being enqueued and a worker starting it (waiting
    up to ``settle`` seconds for jobs not started yet)."""
    from rq.job import Job

    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        jobs = Job.fetch_many(job_ids, connection=connection)
        if all(job is None or job.started_at for job in jobs):
            break
        time.sleep(0.1)
    waits = []
    for job in Job.fetch_many(job_ids, connection=connection):
        if job is not None and job.enqueued_at and job.started_at:
            waits.append((job.started_at - job.enqueued_at).total_seconds())
        elif job is not None:
            waits.append(float("inf"))  # never started
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_scenario(args.recipients)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

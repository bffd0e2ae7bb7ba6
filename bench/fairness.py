"""Promptness beside a campaign: one worker process, a campaign running on a channel, and then a
single API message on the same channel and the reconciler's periodic runs.

A Twilio channel points at bench/endpoint.py (strict mode: it counts per message id and checks the
channel's rate); one `rqworker high default --with-scheduler` process sends a list campaign at the
channel's rate. A few seconds in, this process sends one message the way POST /message does (the
shared drain job on the `high` queue) and runs the reconciler every two seconds in this process, as
rqcron does (campaigns/pipeline/housekeeping.py). It reports how long the single message took to be
sent, how far the campaign had got by then, and how late each reconciler run started.

The ``bulk`` scenario is the audit's: key A posts two bulk jobs of 10,000 recipients on a
channel of its own, then key B posts a 1-recipient job on another, idle channel, all through
POST /messages/bulk, with one `rqworker high default --with-scheduler` process (as `make run`
starts) at the production settings and the reconciler every two seconds. It reports how long
B's job took to be expanded into its message and to be sent, and, with ``--finish``, waits for
A's jobs to complete and checks every message was accepted once (else it cancels them).

    python -m bench.fairness --recipients 3000 --json       one JSON line (tests/test_fairness.py)
    python -m bench.fairness --scenario bulk --recipients 1000 --rate 40 --finish --json
    python -m bench fairness                                 the figures in the bench table
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections import Counter

from bench.chaos import Workers, build_campaign, forget, twilio_channel
from bench.harness import forget_channel, prepare_django

# A free port unless one is given: two runs side by side on one machine must not share an endpoint.
PORT = int(os.environ["BENCH_FAIRNESS_PORT"]) if os.environ.get("BENCH_FAIRNESS_PORT") else None
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
                reconciles.append(now - next_reconcile)  # how late it starts: it waits for no worker
                reconcile()
                next_reconcile = now + RECONCILE_EVERY
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.COMPLETED and single_seconds is not None:
                break
            time.sleep(0.05)
        finished = time.monotonic()
        waits = reconciles
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


BULK_RECIPIENTS = 10_000  # the API's maximum per request, as in the audit
BULK_RATE = 100.0  # msg/s on key A's channel: its two jobs take 200 s to send


def run_bulk_scenario(recipients: int, rate: float = BULK_RATE, finish: bool = False) -> dict:
    """The audit's reproduction: key B's 1-recipient job posted right after key A's two big ones."""
    prepare_django()
    import django_rq
    from django.utils import timezone

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign, OutboundMessage
    from campaigns.pipeline.jobs import reconcile

    # Strict endpoints, one per channel: each checks its own channel's rate and counts repeats.
    busy = EndpointProcess(0.02, extra=["--strict", "--rate-limit", str(rate)])
    idle = EndpointProcess(0.02, extra=["--strict", "--rate-limit", "10"])
    tag = secrets.token_hex(3)
    channel_a = twilio_channel(f"Fairness A {tag}", busy.url, rate)
    channel_b = twilio_channel(f"Fairness B {tag}", idle.url, 10.0)
    keys = [api_key(f"fairness-{name}-{tag}") for name in ("a", "b")]
    # The production settings (a dispatch job's budget is 240 s); BENCH_WORKER_LOG_LEVEL=INFO shows its jobs.
    workers = Workers(settings={"LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING")})
    high = django_rq.get_queue("high")
    try:
        workers.start()
        wait_for_a_worker(high.connection)
        started = time.monotonic()
        big = [{"to": f"+1415{2_000_000 + n:07d}"} for n in range(recipients)]
        a_jobs = [post_bulk_job(keys[0], channel_a, big) for _ in range(2)]
        posted_at = timezone.now()
        b_job = post_bulk_job(keys[1], channel_b, [{"to": "+16502000123"}])
        expanded = sent = None
        a_sent_then = 0
        deadline = started + 2 * recipients / rate * 3 + 120
        next_reconcile = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_reconcile:
                reconcile()  # as rqcron does, in the scheduler's process
                next_reconcile = time.monotonic() + RECONCILE_EVERY
            if expanded is None:
                fanned_out_at = Campaign.objects.values_list("fanned_out_at", flat=True).get(pk=b_job)
                expanded = (fanned_out_at - posted_at).total_seconds() if fanned_out_at else None
            if sent is None:
                small = OutboundMessage.objects.filter(campaign_id=b_job, status="sent")
                sent_at = small.values_list("sent_at", flat=True).first()
                sent = (sent_at - posted_at).total_seconds() if sent_at else None
                if sent is not None:
                    a_sent_then = OutboundMessage.objects.filter(campaign_id__in=a_jobs, status="sent").count()
            a_done = not Campaign.objects.filter(pk__in=a_jobs).exclude(status=Campaign.Status.COMPLETED).exists()
            if sent is not None and (a_done or not finish):
                break
            time.sleep(0.1)
        if not finish:
            for campaign in Campaign.objects.filter(pk__in=a_jobs):
                campaign.cancel("The bench has its figure.")
        settle(high.connection)
        statuses = Counter(OutboundMessage.objects.filter(campaign_id__in=a_jobs).values_list("status", flat=True))
        reports = [busy.report(), idle.report()]
        return {
            "recipients": recipients,
            "rate": rate,
            "database": connection_vendor(),
            "small_job_expanded_seconds": None if expanded is None else round(expanded, 2),
            "small_job_sent_seconds": None if sent is None else round(sent, 2),
            "big_jobs_sent_when_small_went": a_sent_then,
            "big_jobs": sorted(Campaign.objects.filter(pk__in=a_jobs).values_list("status", flat=True)),
            "big_job_statuses": dict(statuses),
            "seconds": round(time.monotonic() - started, 1),
            "duplicates": sum(len(report["duplicates"]) for report in reports),
            "over_rate": sum(report["over_rate"] for report in reports),
        }
    finally:
        workers.stop_all()
        busy.stop()
        idle.stop()
        django_rq.get_connection("default").flushdb()
        for channel in (channel_a, channel_b):
            forget_channel(channel)
        for key in keys:
            key.user.delete()


def api_key(username: str):
    """A staff member's API key (only staff own keys)."""
    from django.contrib.auth import get_user_model

    from campaigns.models import ApiKey

    user = get_user_model().objects.create_user(username, is_staff=True)
    key, raw = ApiKey.issue(user, name="fairness bench")
    key.raw = raw
    return key


def post_bulk_job(key, channel, recipients: list[dict]) -> int:
    """POST /messages/bulk through Django's full request path (in this process); the job's id."""
    from django.conf import settings
    from django.test import Client

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    body = {"provider": channel.provider, "channel_key": channel.channel_key, "recipients": recipients}
    body["text"] = "Hello from the fairness bench"
    answer = Client().post("/messages/bulk", json.dumps(body), content_type="application/json", HTTP_APIKEY=key.raw)
    if answer.status_code != 200:
        raise SystemExit(f"POST /messages/bulk answered {answer.status_code}: {answer.content[:500]!r}")
    return int(answer.json()["data"]["job_id"])


def wait_for_a_worker(connection, timeout: float = 60) -> None:
    """Until the worker process has registered (Django's start-up takes seconds on a busy machine)."""
    from rq import Worker

    deadline = time.monotonic() + timeout
    while not Worker.count(connection=connection):
        if time.monotonic() > deadline:
            raise SystemExit("The worker did not start within a minute.")
        time.sleep(0.2)


def settle(connection, timeout: float = 30) -> None:
    """Until both queues are empty and the worker idle: nothing sends after the figures are read."""
    from rq import Queue, Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = sum(Queue(name, connection=connection).count for name in ("high", "default"))
        busy = [w for w in Worker.all(connection=connection) if w.get_current_job_id()]
        if not queued and not busy:
            return
        time.sleep(0.2)


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


# The audit's figure before the fair turns (commit e600f7f), measured by this bench on PostgreSQL
# on the 2-core development machine: the small job expanded after 11.5 s and sent after 38.8 s
# (the audit, under `make run` with the demo channels: 87 s and 5 min 45 s).
BEFORE_FAIR_TURNS = {"expanded": 11.5, "sent": 38.8}
SMALL_JOB_TARGET = 10.0  # seconds: "within seconds, as single messages already do"


def run() -> list[dict]:
    """For `make bench`: the three waits, against a target of seconds."""
    return [*single_message_rows(), small_bulk_job_row()]


def small_bulk_job_row() -> dict:
    result = run_bulk_scenario(BULK_RECIPIENTS)
    sent = result["small_job_sent_seconds"] or float("inf")
    return {
        "name": f"1-recipient bulk job behind another key's two {BULK_RECIPIENTS:,}-recipient jobs, one worker",
        "figure": sent,
        "unit": "s",
        "target": f"<= {SMALL_JOB_TARGET:.0f} s",
        "ratio": SMALL_JOB_TARGET / sent if sent else 1.0,
        "note": f"expanded after {result['small_job_expanded_seconds']} s; before the fair turns: expanded after "
        f"{BEFORE_FAIR_TURNS['expanded']} s, sent after {BEFORE_FAIR_TURNS['sent']} s ({result['database']} now)",
    }


def single_message_rows() -> list[dict]:
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
            "name": "reconciler's latest start beside that campaign (it runs in the scheduler)",
            "figure": waited,
            "unit": "s",
            "target": "<= 5 s",
            "ratio": 5 / waited if waited else 1.0,
            "note": f"{result['reconciler_runs']} runs, one every {RECONCILE_EVERY:.0f} s",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("single", "bulk"), default="single")
    parser.add_argument("--recipients", type=int, default=None, help="the campaign's, or each big bulk job's")
    parser.add_argument("--rate", type=float, default=BULK_RATE, help="bulk: msg/s on the big jobs' channel")
    parser.add_argument("--finish", action="store_true", help="bulk: let the big jobs complete")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.scenario == "bulk":
        result = run_bulk_scenario(args.recipients or BULK_RECIPIENTS, args.rate, args.finish)
    else:
        result = run_scenario(args.recipients or 3000)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

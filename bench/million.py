"""A million-recipient campaign: fan-out from lists, then sendbulk at 1,000 a request, and worker memory.

The data is built by the database (INSERT ... SELECT from a generated series): BENCH_MILLION
contacts (default 1,000,000) in two lists that overlap by a tenth (so the fan-out must drop the
duplicates: the audience is exactly BENCH_MILLION numbers), one in a hundred opted out (their rows
are cancelled, never sent). Then:

- fan-out: Campaign.launch() and fan_out() materialise the rows; target <= 30 s for 1,000,000;
- sendbulk: BENCH_MILLION_WORKERS (default 2) `rqworker` processes dispatch the campaign to the
  asyncio loopback endpoint's sendbulk gateway at 1,000 messages a request; target <= 3 minutes
  (from the first dispatch job to the last message sent);
- worker peak memory: the largest memory (proportional set size) of a worker process with the work
  horse it forks, sampled through the run (the loopback endpoint's own process is not counted);
  target <= 250 MB.

    python -m bench million
"""

from __future__ import annotations

import os
import secrets
import time

from bench.harness import PeakRss, forget_channel, prepare_django, start_workers, wait_for

RECIPIENTS = int(os.environ.get("BENCH_MILLION", "1000000"))
WORKERS = int(os.environ.get("BENCH_MILLION_WORKERS", "2"))
FAN_OUT_TARGET_SECONDS = 30.0 * RECIPIENTS / 1_000_000
SEND_TARGET_SECONDS = 180.0 * RECIPIENTS / 1_000_000
MEMORY_TARGET_MB = 250.0


def build_contacts(prefix: str, count: int) -> None:
    """``count`` contacts numbered prefix + 7 digits, every hundredth opted out, by one INSERT ... SELECT."""
    from django.db import connection

    from contacts.models import Contact

    table = connection.ops.quote_name(Contact._meta.db_table)
    if connection.vendor == "postgresql":
        series = "generate_series(0, %s - 1) AS s(n)"
        phone = "%s || lpad(CAST(n AS TEXT), 7, '0')"
    else:
        series = "(WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < %s) SELECT n FROM s)"
        phone = "%s || substr('0000000' || n, -7, 7)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (phone, name, extra_fields, opt_out_reason, created_at, updated_at, opted_out_at) "
            f"SELECT {phone}, 'Contact ' || CAST(n AS TEXT), '{{}}', '', %s, %s, "
            f"CASE WHEN n %% 100 = 7 THEN %s ELSE NULL END FROM {series}",
            [prefix, now(), now(), now(), count],
        )


def build_lists(prefix: str, count: int):
    """Two lists over the contacts with this prefix, overlapping by a tenth of ``count``."""
    from django.db import connection

    from contacts.models import Contact, ContactList, ListMembership

    first, second = (ContactList.objects.create(name=f"Bench million {prefix} {n}") for n in (1, 2))
    contacts = Contact.objects.filter(phone__startswith=prefix).order_by("id").values_list("id", flat=True)
    ids = list(contacts)
    split, overlap = int(count * 0.6), int(count * 0.1)
    table = connection.ops.quote_name(ListMembership._meta.db_table)
    contact_table = connection.ops.quote_name(Contact._meta.db_table)
    for contact_list, low, high in ((first, ids[0], ids[split + overlap - 1]), (second, ids[split], ids[-1])):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (contact_list_id, contact_id, added_at) "
                f"SELECT %s, id, %s FROM {contact_table} WHERE id BETWEEN %s AND %s",
                [contact_list.pk, now(), low, high],
            )
    return first, second


def now():
    from django.utils import timezone

    return timezone.now()


def forget(channel, prefix: str, lists) -> None:
    """Delete what the run made in a few statements: the ORM would load a million rows to cascade."""
    from django.db import connection, transaction

    from contacts.models import Contact, ContactList, ListMembership

    quote = connection.ops.quote_name
    contacts, members = quote(Contact._meta.db_table), quote(ListMembership._meta.db_table)
    list_ids = [contact_list.pk for contact_list in lists]
    forget_channel(channel)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {members} WHERE contact_list_id IN (%s, %s)", list_ids)
        cursor.execute(f"DELETE FROM {contacts} WHERE phone LIKE %s", [prefix + "%"])
    ContactList.objects.filter(pk__in=list_ids).delete()


def measure() -> dict:
    prepare_django()
    from django.db.models import Max, Min

    from bench.dispatch import EndpointProcess
    from campaigns.models import Campaign, OutboundMessage
    from campaigns.pipeline.fanout import fan_out
    from providers.models import Channel

    prefix = f"+1{secrets.randbelow(800) + 200}"
    tag = secrets.token_hex(3)
    started = time.monotonic()
    build_contacts(prefix, RECIPIENTS)
    lists = build_lists(prefix, RECIPIENTS)
    built = time.monotonic() - started
    endpoint = EndpointProcess()
    channel = Channel.objects.create(
        name=f"Bench million {tag}",
        provider="sendbulk",
        sender="BENCH",
        credentials={"partner_id": "1234", "apikey": secrets.token_hex(8)},
        rate_limit=1_000_000,
        batch_size=1000,
        api_base_url=f"{endpoint.url}/api/services",
    )
    campaign = Campaign.objects.create(name=f"Bench million {tag}", channel=channel, text="Hi {{ name }}")
    try:
        campaign.lists.set(lists)
        campaign.launch()
        started = time.monotonic()
        rows = fan_out(campaign.pk)  # the job launch enqueued: run here, timed alone
        fanned = time.monotonic() - started
        queued = campaign.messages.filter(status=OutboundMessage.Status.QUEUED).count()
        started = time.monotonic()
        workers = start_workers(WORKERS)
        with PeakRss(*(worker.pid for worker in workers)) as memory:
            wait_for(workers, timeout=1800)
        elapsed = time.monotonic() - started
        sent = campaign.messages.filter(status=OutboundMessage.Status.SENT)
        span = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
        sent_count = sent.count()
        campaign.refresh_from_db()
    finally:
        endpoint.stop()
        forget(channel, prefix, lists)
    return {
        "built": built,
        "rows": rows,
        "queued": queued,
        "fanned": fanned,
        "sent": sent_count,
        "elapsed": elapsed,
        "span": (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0,
        "status": campaign.status,
        "memory": memory.peak_mb,
    }


def run() -> list[dict]:
    result = measure()
    expected_sent = result["queued"]
    complete = result["sent"] == expected_sent and result["rows"] == RECIPIENTS
    return [
        {
            "name": f"fan-out: {RECIPIENTS:,}-recipient campaign from two overlapping lists",
            "figure": round(result["fanned"], 1),
            "unit": "s",
            "target": round(FAN_OUT_TARGET_SECONDS),
            "ratio": FAN_OUT_TARGET_SECONDS / result["fanned"] if result["rows"] == RECIPIENTS else 0.0,
            "note": f"{result['rows']:,} rows ({RECIPIENTS - result['queued']:,} opted out, cancelled); "
            f"data built in {result['built']:.0f} s",
        },
        {
            "name": f"sendbulk at 1,000 a request: {expected_sent:,} messages, {WORKERS} workers",
            "figure": round(result["elapsed"], 1),
            "unit": "s",
            "target": round(SEND_TARGET_SECONDS),
            "ratio": SEND_TARGET_SECONDS / result["elapsed"] if complete else 0.0,
            "note": f"{result['sent']:,} sent, {result['sent'] / max(result['span'], 0.001):,.0f} msg/s between "
            f"first and last sent; campaign {result['status']}",
        },
        {
            "name": "worker peak memory through the million run",
            "figure": round(result["memory"], 1),
            "unit": "MB",
            "target": MEMORY_TARGET_MB,
            "ratio": MEMORY_TARGET_MB / max(result["memory"], 1.0),
            "note": "largest of the workers' memory (PSS), each with the work horse it forked, sampled every 50 ms",
        },
    ]

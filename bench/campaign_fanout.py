"""Fan-out of a staff campaign to a contact list: message rows created per second, and memory.

100,000 contacts in one list (BENCH_FANOUT_CONTACTS to change) are turned into OutboundMessage
rows by campaigns.pipeline.fanout.fan_out, the job a launch runs. The target is ours (no issue sets one
yet): a list of 1,000,000 fanned out within 5 minutes, i.e. at least 3,334 rows/s; and memory
that does not grow with the list (rows stream in batches): the peak of Python allocations during a
second fan-out of the same list, traced by tracemalloc (which is why it is not the timed run).
"""

from __future__ import annotations

import os
import secrets
import time
import tracemalloc

from bench.harness import forget_channel, prepare_django

CONTACTS = int(os.environ.get("BENCH_FANOUT_CONTACTS", "100000"))
TARGET_ROWS_PER_SECOND = 1_000_000 / 300
TARGET_PEAK_GROWTH_MB = 200


def measure(contacts: int = CONTACTS) -> dict:
    prepare_django()
    from django.db import connection

    from campaigns.models import Campaign
    from campaigns.pipeline.fanout import fan_out
    from contacts.models import Contact, ContactList, ListMembership
    from providers.models import Channel

    tag = secrets.token_hex(3)
    channel = Channel.objects.create(name=f"Bench fan-out {tag}", provider="sandbox", rate_limit=1000)
    contact_list = ContactList.objects.create(name=f"Bench list {tag}")
    prefix = f"+1{secrets.randbelow(800) + 200}"  # one area code per run, so runs never collide
    try:
        for start in range(0, contacts, 10_000):
            batch = Contact.objects.bulk_create(
                Contact(phone=f"{prefix}{n:07d}", name=f"Contact {n}")
                for n in range(start, min(contacts, start + 10_000))
            )
            ListMembership.objects.bulk_create(ListMembership(contact_list=contact_list, contact=c) for c in batch)
        timed, traced = (launched(Campaign, channel, contact_list, name) for name in ("timed", "traced"))
        started = time.monotonic()
        rows = fan_out(timed.pk)
        elapsed = time.monotonic() - started
        tracemalloc.start()
        fan_out(traced.pk)
        growth = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    finally:
        forget_channel(channel)
        Contact.objects.filter(phone__startswith=prefix, memberships__contact_list=contact_list).delete()
        contact_list.delete()
    return {"rows": rows, "elapsed": elapsed, "growth": growth, "database": connection.vendor}


def launched(campaign_model, channel, contact_list, name: str):
    campaign = campaign_model.objects.create(name=f"Bench {name}", channel=channel, text="Hi {{ name }}")
    campaign.lists.set([contact_list])
    campaign.launch()
    return campaign


def run() -> list[dict]:
    result = measure()
    per_second = result["rows"] / result["elapsed"]
    growth = max(result["growth"], 0.1)
    return [
        {
            "name": f"campaign fan-out: {result['rows']:,} list contacts into messages ({result['database']})",
            "figure": round(per_second),
            "unit": "rows/s",
            "target": round(TARGET_ROWS_PER_SECOND),
            "ratio": per_second / TARGET_ROWS_PER_SECOND,
            "note": f"{result['elapsed']:.1f} s; 1,000,000 at this rate: {1_000_000 / per_second / 60:.1f} min",
        },
        {
            "name": "campaign fan-out: peak Python memory during a fan-out",
            "figure": round(result["growth"], 1),
            "unit": "MB",
            "target": TARGET_PEAK_GROWTH_MB,
            "ratio": TARGET_PEAK_GROWTH_MB / growth,
            "note": "tracemalloc peak; rows stream in batches of 1,000, so it does not grow with the list",
        },
    ]

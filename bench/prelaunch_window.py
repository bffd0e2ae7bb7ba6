"""WhatsApp's 24-hour window on the pre-launch panel: how many of a free-form WhatsApp campaign's
recipients wrote within 24 hours, counted at BENCH_WINDOW recipients (default 1,000,000).

The data is built by the database (bench/million.py's contacts and two overlapping lists), and one
conversation in BENCH_WINDOW_WROTE (default 20) wrote to the channel: half of them within 24 hours.
campaigns.content.prelaunch.count_window is one query; the figure is the median of three runs,
target <= 2 s at 1,000,000 recipients (the panel also counts the audience and its placeholders).

    python -m bench prelaunch_window
"""

from __future__ import annotations

import os
import secrets
import statistics
import time

from bench.harness import forget_channel, prepare_django
from bench.million import build_contacts, build_lists, now

RECIPIENTS = int(os.environ.get("BENCH_WINDOW", "1000000"))
WROTE_ONE_IN = int(os.environ.get("BENCH_WINDOW_WROTE", "20"))
TARGET_SECONDS = 2.0 * RECIPIENTS / 1_000_000
RUNS = 3


def unavailable() -> str | None:
    prepare_django()
    from django.db import connection

    return None if connection.vendor == "postgresql" else "needs PostgreSQL (DATABASE_URL): a million rows"


def build_conversations(channel, prefix: str) -> None:
    """One contact in WROTE_ONE_IN wrote to the channel: every other one of them within 24 hours."""
    from django.db import connection

    from campaigns.models import Conversation
    from contacts.models import Contact

    table = connection.ops.quote_name(Conversation._meta.db_table)
    contacts = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, phone, state, unread_count, last_message_at, last_inbound_at, "
            "last_text, created_at) "
            f"SELECT %s, phone, 'open', 0, %s, CASE WHEN (id / %s) %% 2 = 0 THEN %s - interval '2 hours' "
            f"ELSE %s - interval '3 days' END, '', %s FROM {contacts} WHERE phone LIKE %s AND id %% %s = 0",
            [channel.pk, now(), WROTE_ONE_IN, now(), now(), now(), prefix + "%", WROTE_ONE_IN],
        )
        cursor.execute(f"ANALYZE {table}")


def measure() -> dict:
    prepare_django()
    from django.db import connection

    from campaigns.content import prelaunch
    from campaigns.models import Campaign, Conversation
    from providers.models import Channel

    prefix = f"+1{secrets.randbelow(800) + 200}"
    started = time.monotonic()
    build_contacts(prefix, RECIPIENTS)
    lists = build_lists(prefix, RECIPIENTS)
    channel = Channel.objects.create(
        name=f"Bench window {secrets.token_hex(3)}", provider="twlowa", sender="whatsapp:+15005550006"
    )
    build_conversations(channel, prefix)
    built = time.monotonic() - started
    campaign = Campaign.objects.create(name="Bench window", channel=channel, text="Your order is ready")
    timings = []
    try:
        campaign.lists.set(lists)
        people = campaign.audience_contacts().reachable().distinct().count()
        for _ in range(RUNS):
            result = prelaunch.Report(people=people)
            started = time.monotonic()
            prelaunch.count_window(campaign, result)
            timings.append(time.monotonic() - started)
        wrote = Conversation.objects.filter(channel=channel).count()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(Conversation._meta.db_table)} WHERE channel_id = %s",
                [channel.pk],
            )
        forget_channel(channel)  # and its campaign
        forget_contacts(prefix, lists)
    return {"people": people, "open": result.window_open, "wrote": wrote, "timings": timings, "built": built}


def forget_contacts(prefix: str, lists) -> None:
    """The run's contacts and lists, in a few statements (bench/million.py's forget, without a channel)."""
    from django.db import connection, transaction

    from contacts.models import Contact, ContactList, ListMembership

    quote = connection.ops.quote_name
    list_ids = [contact_list.pk for contact_list in lists]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(ListMembership._meta.db_table)} WHERE contact_list_id IN (%s, %s)", list_ids
        )
        cursor.execute(f"DELETE FROM {quote(Contact._meta.db_table)} WHERE phone LIKE %s", [prefix + "%"])
    ContactList.objects.filter(pk__in=list_ids).delete()


def run() -> list[dict]:
    result = measure()
    median = statistics.median(result["timings"])
    return [
        {
            "name": f"24-hour window count: {result['people']:,} WhatsApp recipients",
            "figure": round(median * 1000),
            "unit": "ms",
            "target": round(TARGET_SECONDS * 1000),
            "ratio": TARGET_SECONDS / max(median, 0.001),
            "note": f"{result['open']:,} wrote within 24 h of {result['wrote']:,} who ever wrote; one query, "
            f"median of {RUNS}; data built in {result['built']:.0f} s",
        }
    ]

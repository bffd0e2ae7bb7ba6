"""A contact's timeline and a campaign's replies with 1,000,000 replies stored: each page within 500 ms
(issue 16, item 10).

PostgreSQL builds, by INSERT ... SELECT over generate_series (one statement a table):

- 200,000 contacts, each with a conversation on one channel;
- a campaign of 1,000,000 recipient messages (five to each number, duplicates allowed), 90%
  delivered, 5% sent, 5% failed;
- BENCH_TIMELINE_REPLIES replies (1,000,000 by default), spread over the numbers and 30 days: a
  tenth answer the big campaign, the rest twenty older campaigns or none; 1% are STOP, whose numbers
  are on the suppression list;
- one number with a long history: 20,000 messages from us and 20,000 replies (the timeline's worst case);

then VACUUM ANALYZE as autovacuum would. Each page is fetched through the real admin (Django's test
client, a signed-in member of Marketing: the whole request) five times after one warm-up; the figure is the
median. Everything it made is deleted afterwards.

`make bench ARGS=timeline` with DATABASE_URL set to a PostgreSQL database.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from datetime import timedelta

from bench.admin_pages import admin_pages_served, load_average, logged_in, page_row, timed_get
from bench.harness import prepare_django

BENCH = "timeline"
NUMBERS = int(os.environ.get("BENCH_TIMELINE_NUMBERS", "200000"))
RECIPIENTS = int(os.environ.get("BENCH_TIMELINE_RECIPIENTS", "1000000"))
LONG_HISTORY = 20_000  # messages each way for one number
OLD_CAMPAIGNS = 20
REPEATS = 5


def unavailable() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return (
            f"timeline needs PostgreSQL (it builds 2,000,000 rows with generate_series, and its target is "
            f"PostgreSQL's), not {connection.vendor}: set DATABASE_URL=postgres://..."
        )
    return None


def reply_count() -> int:
    return int(os.environ.get("BENCH_TIMELINE_REPLIES", "1000000"))


def say(text: str) -> None:
    print(f"  timeline: {text}", file=sys.stderr, flush=True)


def columns(model, computed: dict[str, str]) -> tuple[str, str, list]:
    """Column list, SELECT expressions and parameters: ``computed`` SQL where given, else the field's
    default as a parameter (so a column added later needs nothing here)."""
    from django.db import connection

    names, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(connection.ops.quote_name(field.column))
        if field.attname in computed:
            values.append(computed[field.attname].replace("%", "%%"))  # its modulos, beside the parameters
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return ", ".join(names), ", ".join(values), params


def insert(cursor, model, computed: dict[str, str], source: str) -> int:
    """INSERT ... SELECT ``computed`` (SQL with no parameters: our own numbers and times) ``source``."""
    names, values, defaults = columns(model, computed)
    source = source.replace("%", "%%")
    cursor.execute(f"INSERT INTO {model._meta.db_table} ({names}) SELECT {values} {source}", defaults)
    return cursor.rowcount


def moment(when) -> str:
    return f"'{when.isoformat()}'::timestamptz"


def phone_sql(area: str, n: str) -> str:
    return f"'+1{area}' || lpad(({n})::text, 7, '0')"


def first_id(cursor, table: str, column: str, like: str, count: int) -> int:
    """The first id of rows just inserted, checked to be ``count`` consecutive ids (the joins below rely on it)."""
    cursor.execute(f"SELECT min(id), max(id), count(*) FROM {table} WHERE {column} LIKE %s", [like])
    low, high, found = cursor.fetchone()
    assert found == count and high - low + 1 == count, (table, low, high, found, count)
    return low


def build(area: str, tag: str, replies: int) -> dict:
    """Everything the pages read; returns the ids the pages are about."""
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage
    from contacts.models import Contact, Suppression
    from providers.models import Channel

    now = timezone.now()
    began = now - timedelta(days=30)
    channel = Channel.objects.create(name=f"Bench timeline {tag}", provider="sandbox", sender="+15005550006")
    big = Campaign.objects.create(
        name=f"Bench big {tag}",
        channel=channel,
        text="Spring sale: 20% off",
        status=Campaign.Status.COMPLETED,
        duplicates_allowed=True,
        started_at=began,
        finished_at=began + timedelta(hours=6),
    )
    old = [
        Campaign.objects.create(name=f"Bench old {n} {tag}", channel=channel, text="Hi", status="completed").pk
        for n in range(OLD_CAMPAIGNS)
    ]
    numbers = f"+1{area}%"
    with connection.cursor() as cursor:
        started = time.monotonic()
        insert(
            cursor,
            Contact,
            {
                "phone": phone_sql(area, "n"),
                "name": "'Bench ' || n",
                "created_at": moment(now),
                "updated_at": moment(now),
            },
            f"FROM generate_series(0, {NUMBERS - 1}) AS n",
        )
        first_contact = first_id(cursor, "contacts_contact", "phone", numbers, NUMBERS)
        insert(
            cursor,
            Conversation,
            {
                "channel_id": str(channel.pk),
                "phone": phone_sql(area, "n"),
                "contact_id": f"{first_contact} + n",
                "last_message_at": moment(now),
                "created_at": moment(now),
            },
            f"FROM generate_series(0, {NUMBERS - 1}) AS n",
        )
        first_conversation = first_id(cursor, "campaigns_conversation", "phone", numbers, NUMBERS)
        say(f"{NUMBERS:,} contacts and conversations in {time.monotonic() - started:.0f} s")

        started = time.monotonic()
        status = "CASE WHEN g % 20 = 0 THEN 'failed' WHEN g % 20 = 1 THEN 'sent' ELSE 'delivered' END"
        insert(
            cursor,
            OutboundMessage,
            {
                "campaign_id": str(big.pk),
                "channel_id": str(channel.pk),
                "contact_id": f"{first_contact} + g % {NUMBERS}",
                "to": phone_sql(area, f"g % {NUMBERS}"),
                "recipient_key": f"{phone_sql(area, f'g % {NUMBERS}')} || '#' || g",
                "body": "'Spring sale: 20% off'",
                "status": status,
                "created_at": moment(began),
                "updated_at": moment(began),
                "sent_at": moment(began),
                "delivered_at": f"CASE WHEN g % 20 > 1 THEN {moment(began)} END",
            },
            f"FROM generate_series(0, {RECIPIENTS - 1}) AS g",
        )
        # The long history: our messages to number 0 over the last 60 days, newest last (ids follow time).
        insert(
            cursor,
            OutboundMessage,
            {
                "channel_id": str(channel.pk),
                "contact_id": f"{first_contact}",
                "to": phone_sql(area, "0"),
                "body": "'Your order ' || g || ' has shipped'",
                "status": "'delivered'",
                "created_at": f"{moment(now)} - ({LONG_HISTORY} - g) * interval '4 minutes'",
                "updated_at": moment(now),
            },
            f"FROM generate_series(1, {LONG_HISTORY}) AS g",
        )
        say(f"{RECIPIENTS + LONG_HISTORY:,} messages sent in {time.monotonic() - started:.0f} s")

        started = time.monotonic()
        old_ids = "ARRAY[" + ",".join(map(str, old)) + "]"
        campaign = f"CASE WHEN g % 10 = 0 THEN {big.pk} WHEN g % 10 < 6 THEN ({old_ids})[1 + g % {OLD_CAMPAIGNS}] END"
        spread = replies - LONG_HISTORY
        insert(
            cursor,
            InboundMessage,
            {
                "channel_id": str(channel.pk),
                "conversation_id": f"{first_conversation} + 1 + g % {NUMBERS - 1}",
                "contact_id": f"{first_contact} + 1 + g % {NUMBERS - 1}",
                "phone": phone_sql(area, f"1 + g % {NUMBERS - 1}"),
                "text": "CASE WHEN g % 100 = 7 THEN 'STOP' ELSE 'Reply ' || g END",
                "keyword": "CASE WHEN g % 100 = 7 THEN 'STOP' ELSE '' END",
                "campaign_id": campaign,
                "received_at": f"{moment(now)} - (g % 2592000) * interval '1 second'",
                "created_at": moment(now),
            },
            f"FROM generate_series(0, {spread - 1}) AS g",
        )
        insert(
            cursor,
            InboundMessage,
            {
                "channel_id": str(channel.pk),
                "conversation_id": f"{first_conversation}",
                "contact_id": f"{first_contact}",
                "phone": phone_sql(area, "0"),
                "text": "'Where is my order ' || g || '?'",
                "received_at": f"{moment(now)} - ({LONG_HISTORY} - g) * interval '4 minutes' + interval '1 minute'",
                "created_at": moment(now),
            },
            f"FROM generate_series(1, {LONG_HISTORY}) AS g",
        )
        say(f"{replies:,} replies in {time.monotonic() - started:.0f} s")
        insert(
            cursor,
            Suppression,
            {"number": "phone", "suppressed_at": "max(received_at)", "reason": "'Replied STOP'", "source": "'reply'"},
            f"FROM campaigns_inboundmessage WHERE channel_id = {channel.pk} AND keyword = 'STOP' GROUP BY phone",
        )
        for table in (
            "contacts_contact",
            "campaigns_conversation",
            "campaigns_outboundmessage",
            "campaigns_inboundmessage",
            "contacts_suppression",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"big": big.pk, "channel": channel.pk, "long": first_contact, "typical": first_contact + 12_345}


def deep_position(contact_id: int, back: int) -> str:
    """The "Older" link's query ``back`` entries of each direction into the long history."""
    from django.utils.http import urlencode

    from campaigns.conversations.timeline import Position
    from campaigns.models import InboundMessage, OutboundMessage
    from contacts.models import Contact

    phone = Contact.objects.get(pk=contact_id).phone
    sent = OutboundMessage.objects.filter(to=phone).order_by("-pk").values_list("pk", flat=True)[back]
    reply = InboundMessage.objects.filter(phone=phone).order_by("-received_at", "-pk").values("received_at", "pk")[back]
    return urlencode(Position(sent=sent, received=(reply["received_at"], reply["pk"])).as_query())


def pages(made: dict, replies: int) -> list[tuple[str, str]]:
    timeline = f"/admin/contacts/contact/{made['long']}/timeline/"
    return [
        ("contact page, a typical contact (5 messages each way)", f"/admin/contacts/contact/{made['typical']}/change/"),
        ("contact page, 20,000 messages each way", f"/admin/contacts/contact/{made['long']}/change/"),
        ("timeline page 1, 20,000 each way", timeline),
        ("timeline 10,000 entries back, 20,000 each way", f"{timeline}?{deep_position(made['long'], 5000)}"),
        (
            f"campaign page: {RECIPIENTS:,} recipients, {replies // 10:,} replies",
            f"/admin/campaigns/campaign/{made['big']}/change/",
        ),
    ]


def campaign_page_parts(campaign_id: int, vendor: str) -> list[dict]:
    """The campaign page's two reads of its size, alone: the replies panel (this issue's) and the
    progress counts it already had (a GROUP BY over the campaign's messages)."""
    from campaigns.models import Campaign
    from campaigns.reports import progress, replies

    campaign = Campaign.objects.get(pk=campaign_id)
    parts = {
        "campaign page part: the replies panel's reads": lambda: replies.summary(campaign, sent=RECIPIENTS),
        "campaign page part: the progress counts (GROUP BY status)": lambda: progress.snapshot(campaign),
    }
    rows = []
    for name, read in parts.items():
        read()  # warm
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            read()
            times.append((time.perf_counter() - started) * 1000)
        rows.append(page_row(BENCH, name, statistics.median(times), "in-process, no HTTP", vendor))
    return rows


def clean_up(area: str, tag: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM providers_channel WHERE name = %s", [f"Bench timeline {tag}"])
        found = cursor.fetchone()
        if found:
            channel = found[0]
            for table in ("campaigns_inboundmessage", "campaigns_conversation", "campaigns_outboundmessage"):
                cursor.execute(f"DELETE FROM {table} WHERE channel_id = %s", [channel])
            cursor.execute("DELETE FROM campaigns_campaign WHERE channel_id = %s", [channel])
            cursor.execute("DELETE FROM providers_channel WHERE id = %s", [channel])
        cursor.execute("DELETE FROM contacts_suppression WHERE number LIKE %s", [f"+1{area}%"])
        cursor.execute("DELETE FROM contacts_contact WHERE phone LIKE %s", [f"+1{area}%"])


def marketing_user(tag: str):
    """A member of the Marketing group (made by a migration), who reads these pages."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(f"bench-{tag}", password=secrets.token_hex(16), is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    return user


def run() -> list[dict]:
    prepare_django()
    from django.db import connection

    area = str(200 + secrets.randbelow(700))
    tag = secrets.token_hex(3)
    replies = reply_count()
    user = marketing_user(tag)
    rows = []
    try:
        started = time.monotonic()
        made = build(area, tag, replies)
        built = time.monotonic() - started
        with admin_pages_served():
            client = logged_in(user)
            for name, url in pages(made, replies):
                rows.append(page_row(BENCH, name, timed_get(client, url, REPEATS), "", connection.vendor))
        rows.extend(campaign_page_parts(made["big"], connection.vendor))
    finally:
        clean_up(area, tag)
        user.delete()
    rows[0]["note"] = f"built {replies:,} replies and {RECIPIENTS + LONG_HISTORY:,} messages in {built:.0f} s"
    rows[-1]["note"] = load_average()
    return rows

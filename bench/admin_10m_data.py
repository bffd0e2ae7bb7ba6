"""The admin_10m bench's data: 10,000,000 messages spread as a busy installation's are, built by PostgreSQL.

Ninety days of history (BENCH_ADMIN_MESSAGES rows in all, 10,000,000 by default; every size below
scales with it):

- a pool of contacts (a tenth of the messages, at most 1,000,000; 2% opted out), a list of
  everyone and a hundred lists of a few thousand contacts;
- five channels, two of them rare (a few hundred messages): the filters' worst case;
- about three hundred staff campaigns: four of 1,000,000 recipients (three completed, one running,
  started three hours ago and 55% through), a paused one of 200,000, thirty of 50,000 to 150,000, the
  rest of 500 to 30,000; five cancelled part-way, three scheduled, three drafts; those over 45 days
  old archived; forty bulk API jobs of 1,000 to 10,000;
- single and API messages (5%), every day, a few scheduled for later, a few still waiting today;
- every status, with failures under eight reasons, provider ids, sent and delivered times.

Message ids grow with their creation time, as in production (the dashboard relies on it). Every row
is made by INSERT ... SELECT over generate_series, one statement per campaign and per stretch of
single messages, then VACUUM ANALYZE as autovacuum would. The data stays in the database for the
next run: a marker list records what was built, and a build that stopped half-way is redone. Use a
database of its own (`createdb bench_10m`); BENCH_ADMIN_REBUILD=1 builds afresh.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

VERSION = 1
FULL_SCALE = 10_000_000
TAG = "Bench10m"
PHONE_PREFIX = "+447911"  # the contacts' numbers: +447911 and six digits (valid UK mobiles)
STRANGER_PREFIX = "+447922"  # API messages to numbers that are not contacts
DAYS = 90
CHANNELS = {  # key: (provider, share of single messages in 10,000)
    "sms": ("twlo", 6000),
    "whatsapp": ("twlowa", 2500),
    "bulk": ("sendbulk", 1490),
    "gupshup": ("gswa", 7),
    "sandbox": ("sandbox", 3),
}
# Outcomes of a finished send, per 1,000 messages.
FINISHED_SMS = [
    ("delivered", 800),
    ("sent", 80),
    ("undelivered", 40),
    ("failed", 60),
    ("unknown", 1),
    ("cancelled", 19),
]
FINISHED_WHATSAPP = [("read", 450), ("delivered", 350), *FINISHED_SMS[1:]]
REASONS = [
    ("30003", "Unreachable destination handset"),
    ("30005", "Unknown destination handset"),
    ("30006", "Landline or unreachable carrier"),
    ("30007", "Message filtered by the carrier"),
    ("21610", "Attempt to send to unsubscribed recipient"),
    ("30008", "Unknown error"),
    ("timeout", "Gave up after 5 attempts"),
    ("21211", "Invalid 'To' Phone Number"),
]
SINGLE_TEXTS = [
    "Your code is 4821",
    "Your order has shipped and arrives tomorrow",
    "Reminder: your appointment is at 10:00",
    "Thanks for your payment",
    "Your table is ready",
]
STAFF = ["alice", "bob", "chidi", "dana", "emeka"]


@dataclass
class PlannedCampaign:
    name: str
    size: int
    days_ago: float
    channel: str
    status: str = "completed"
    kind: str = "campaign"
    done: float = 1.0  # share of its messages handed to the provider (the rest queued or cancelled)
    list_number: int = 0  # 0: everyone, else one of the segment lists
    big: bool = False


def message_total() -> int:
    return int(os.environ.get("BENCH_ADMIN_MESSAGES", FULL_SCALE))


def marker_name(total: int) -> str:
    return f"{TAG} data v{VERSION}: {total:,} messages"


def plan(total: int) -> tuple[list[PlannedCampaign], int]:
    """The campaigns (with their sizes) and how many single messages, for ``total`` messages."""
    chance = random.Random(10_000_000)
    scale = total / FULL_SCALE
    pool = contact_pool(total)

    def sized(n: float) -> int:
        return max(10, min(pool, round(n * scale)))

    campaigns = [
        PlannedCampaign("Summer sale", sized(1e6), 60.4, "sms", big=True),
        PlannedCampaign("Black Friday", sized(1e6), 20.4, "whatsapp", big=True),
        PlannedCampaign("Winter reminder", sized(1e6), 5.4, "bulk", big=True),
        PlannedCampaign("Spring launch", sized(1e6), 0.125, "sms", status="running", done=0.55, big=True),
        PlannedCampaign("Loyalty points", sized(2e5), 1.3, "whatsapp", status="paused", done=0.5, list_number=1),
    ]
    channels = ["sms"] * 6 + ["whatsapp"] * 3 + ["bulk"]
    for n in range(30):
        campaigns.append(
            PlannedCampaign(f"Newsletter {n + 1}", sized(chance.uniform(5e4, 1.5e5)), 0, chance.choice(channels))
        )
    for n in range(40):
        campaigns.append(
            PlannedCampaign(
                f"API job {n + 1}", sized(chance.uniform(1e3, 1e4)), 0, chance.choice(channels), kind="bulk_api"
            )
        )
    budget = int(total * 0.95) - sum(campaign.size for campaign in campaigns)
    number = 0
    while budget > 0:
        number += 1
        size = min(budget, sized(10 ** chance.uniform(2.7, 4.5)))
        campaigns.append(PlannedCampaign(f"Offer {number}", size, 0, chance.choice(channels)))
        budget -= size
    for index, campaign in enumerate(campaigns):
        if not campaign.big and campaign.status == "completed":
            campaign.days_ago = chance.uniform(0.6, DAYS - 0.5)
        campaign.list_number = campaign.list_number or (0 if campaign.big else 1 + index % 100)
    small = [c for c in campaigns if c.kind == "campaign" and not c.big and c.status == "completed"]
    for campaign in small[:5]:
        campaign.status, campaign.done = "cancelled", 0.3
    small[5].channel = small[6].channel = "gupshup"  # a rare channel still has a campaign or two
    singles = total - sum(campaign.size for campaign in campaigns)
    return campaigns, singles


def unsent_campaigns() -> list[PlannedCampaign]:
    """Campaigns with no messages yet: scheduled for the coming days, and drafts."""
    return [
        PlannedCampaign("Easter teaser", 0, -2.5, "sms", status="scheduled"),
        PlannedCampaign("Easter sale", 0, -9.5, "whatsapp", status="scheduled"),
        PlannedCampaign("May newsletter", 0, -20.5, "sms", status="scheduled"),
        PlannedCampaign("Draft: survey", 0, 0, "sms", status="draft"),
        PlannedCampaign("Draft: welcome series", 0, 0, "whatsapp", status="draft"),
        PlannedCampaign("Draft: win-back", 0, 0, "bulk", status="draft"),
    ]


def contact_pool(total: int) -> int:
    return max(1000, min(1_000_000, total // 10))


# --- is it there? ---------------------------------------------------------------------------------


def is_built(total: int) -> bool:
    """The marker list exists (written last, so a build that stopped half-way does not count)."""
    from contacts.models import ContactList

    return ContactList.objects.filter(name=marker_name(total)).exists()


def ensure(total: int) -> str:
    """Build the data unless it is there; say which."""
    if os.environ.get("BENCH_ADMIN_REBUILD") != "1" and is_built(total):
        return f"reused the {total:,} messages already built"
    started = time.monotonic()
    forget()
    build(total)
    return f"built {total:,} messages in {time.monotonic() - started:.0f} s"


def forget() -> None:
    """Delete a previous build, by SQL: everything hangs off its channels, contacts and lists (the ORM
    would load a million contacts to delete them)."""
    from django.db import connection

    say("deleting a previous build...")
    ours = "(SELECT id FROM providers_channel WHERE name LIKE %s)"
    tagged = f"{TAG}%"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM campaigns_outboundmessage WHERE channel_id NOT IN {ours})", [tagged]
        )
        if cursor.fetchone()[0]:
            cursor.execute(f"DELETE FROM campaigns_outboundmessage WHERE channel_id IN {ours}", [tagged])
        else:
            cursor.execute("TRUNCATE campaigns_outboundmessage")  # only ours: far faster than DELETE
        campaigns = f"(SELECT id FROM campaigns_campaign WHERE channel_id IN {ours})"
        for table in ("campaigns_campaign_lists", "campaigns_campaign_exclude_lists"):
            cursor.execute(f"DELETE FROM {table} WHERE campaign_id IN {campaigns}", [tagged])
        cursor.execute(f"DELETE FROM campaigns_campaign WHERE channel_id IN {ours}", [tagged])
        cursor.execute("DELETE FROM providers_channel WHERE name LIKE %s", [tagged])
        lists = "(SELECT id FROM contacts_contactlist WHERE name LIKE %s)"
        cursor.execute(f"DELETE FROM contacts_listmembership WHERE contact_list_id IN {lists}", [tagged])
        cursor.execute("DELETE FROM contacts_contactlist WHERE name LIKE %s", [tagged])
        contacts = "(SELECT id FROM contacts_contact WHERE phone LIKE %s)"
        cursor.execute(f"DELETE FROM contacts_listmembership WHERE contact_id IN {contacts}", [f"{PHONE_PREFIX}%"])
        cursor.execute(f"DELETE FROM contacts_optinrecord WHERE contact_id IN {contacts}", [f"{PHONE_PREFIX}%"])
        cursor.execute("DELETE FROM contacts_contact WHERE phone LIKE %s", [f"{PHONE_PREFIX}%"])


def say(text: str) -> None:
    print(f"  admin_10m: {text}", file=sys.stderr, flush=True)


# --- building -----------------------------------------------------------------------------------


def build(total: int) -> None:
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        raise SystemExit("admin_10m builds its data with PostgreSQL's generate_series: set DATABASE_URL.")
    from contacts.models import ContactList

    now = timezone.now()
    campaigns, singles = plan(total)
    first_contact = build_contacts(contact_pool(total), now)
    lists = build_lists(contact_pool(total), first_contact, now)
    channels = build_channels()
    made = create_campaigns(campaigns + unsent_campaigns(), channels, lists, now)
    say(f"{len(campaigns)} campaigns and {singles:,} single messages to insert...")
    insert_timeline(campaigns, made, singles, channels, first_contact, total, now)
    finish_campaigns(made)
    say("VACUUM ANALYZE...")
    with connection.cursor() as cursor:
        for table in ("campaigns_outboundmessage", "campaigns_campaign", "contacts_contact", "contacts_listmembership"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    ContactList.objects.create(name=marker_name(total), description="Made by `make bench ARGS=admin_10m`.")


def build_contacts(pool: int, now: datetime) -> int:
    """The contact pool in one INSERT ... SELECT; returns the first id (they are consecutive)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (phone, name, extra_fields, opt_out_reason, created_at, updated_at, "
            "opted_out_at) SELECT %s || lpad(k::text, 6, '0'), "
            "(ARRAY['Ann','Bob','Cat','Dan','Eve','Fay','Gus'])[1 + k %% 7] || ' Smith' || (k %% 97)::text, "
            "jsonb_build_object('city', (ARRAY['Leeds','York','Hull','Bath'])[1 + k %% 4]), "
            "CASE WHEN k %% 50 = 7 THEN 'Replied STOP' ELSE '' END, %s, %s, "
            "CASE WHEN k %% 50 = 7 THEN %s::timestamptz ELSE NULL END "
            "FROM generate_series(0, %s - 1) AS g(k) ORDER BY k RETURNING id",
            [PHONE_PREFIX, now, now, now, pool],
        )
        ids = [row[0] for row in cursor.fetchall()]
    assert ids[-1] - ids[0] == pool - 1, "contact ids are not consecutive: another writer during the build?"
    return ids[0]


def build_lists(pool: int, first_contact: int, now: datetime) -> dict[int, int]:
    """Everyone (number 0) and a hundred segment lists of a few thousand contacts; {number: list id}."""
    from django.db import connection

    from contacts.models import ContactList

    chance = random.Random(100)
    lists = {}
    with connection.cursor() as cursor:
        for number in range(101):
            size = pool if number == 0 else min(pool, chance.randint(1000, 5000))
            start = 0 if number == 0 else chance.randrange(0, pool - size + 1)
            name = f"{TAG} everyone" if number == 0 else f"{TAG} segment {number}"
            contact_list = ContactList.objects.create(name=name, member_count=size)
            cursor.execute(
                "INSERT INTO contacts_listmembership (contact_list_id, contact_id, added_at) "
                "SELECT %s, %s + k, %s FROM generate_series(%s, %s) AS g(k)",
                [contact_list.pk, first_contact, now, start, start + size - 1],
            )
            lists[number] = contact_list.pk
    return lists


def build_channels() -> dict[str, int]:
    from providers.models import Channel

    return {
        key: Channel.objects.create(name=f"{TAG} {key}", provider=provider, sender="+15005550006", rate_limit=200).pk
        for key, (provider, _) in CHANNELS.items()
    }


def create_campaigns(
    planned: list[PlannedCampaign], channels: dict[str, int], lists: dict[int, int], now: datetime
) -> dict[str, int]:
    """The campaign rows, with their lists; {name: id}. Their counts and times are set once filled."""
    from campaigns.models import Campaign

    made = {}
    for campaign in planned:
        at = now - timedelta(days=campaign.days_ago)
        row = Campaign.objects.create(
            name=campaign.name,
            kind=campaign.kind,
            channel_id=channels[campaign.channel],
            text="Hi {{ first_name }}, " + campaign.name.lower() + " starts now in {{ city|default:'your town' }}.",
            status=campaign.status,
            scheduled_at=at if campaign.status != "draft" else None,
            sender_label="API" if campaign.kind == "bulk_api" else STAFF[len(made) % len(STAFF)],
        )
        if campaign.kind == "campaign":
            row.lists.set([lists[campaign.list_number]])
        made[campaign.name] = row.pk
    return made


def insert_timeline(
    campaigns: list[PlannedCampaign],
    made: dict[str, int],
    singles: int,
    channels: dict[str, int],
    first_contact: int,
    total: int,
    now: datetime,
) -> None:
    """Day by day, oldest first: single messages and campaign fan-outs in time order (ids grow with time)."""
    started = time.monotonic()
    inserted = reported = 0
    per_second = singles / (DAYS * 86400)
    pool = contact_pool(total)
    moments = sorted(campaigns, key=lambda campaign: -campaign.days_ago)
    cursor_time = now - timedelta(days=DAYS)
    for campaign in moments:
        at = now - timedelta(days=campaign.days_ago)
        inserted += insert_singles(cursor_time, at, per_second, inserted, channels, first_contact, pool, now)
        inserted += insert_campaign(campaign, made[campaign.name], at, channels, first_contact, pool)
        cursor_time = at
        if inserted // 1_000_000 > reported // 1_000_000:
            reported = inserted
            say(f"{inserted:,} of {total:,} messages ({inserted / (time.monotonic() - started):,.0f}/s)")
    inserted += insert_singles(cursor_time, now, per_second, inserted, channels, first_contact, pool, now)
    say(f"{inserted:,} messages in {time.monotonic() - started:.0f} s")


def message_columns(computed: dict[str, str]) -> tuple[str, str, list]:
    """Column list, SELECT expressions and their parameters: ``computed`` SQL (no parameters) where
    given, else the field's default as a parameter (as the fan-out does, so a new column needs nothing here)."""
    from django.db import connection

    from campaigns.models import OutboundMessage

    columns, values, params = [], [], []
    for field in OutboundMessage._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in computed:
            values.append(computed[field.attname])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return ", ".join(columns), ", ".join(values), params


def literal(text: str) -> str:
    """One of our own strings as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"


def status_case(shares: list[tuple[str, int]], bucket: str) -> str:
    """CASE over a bucket in 0..999 giving each status its share."""
    whens, upper = [], 0
    for status, share in shares:
        upper += share
        whens.append(f"WHEN {bucket} < {upper} THEN '{status}'")
    return f"CASE {' '.join(whens)} ELSE '{shares[-1][0]}' END"


def outcome_columns(seconds_apart: float) -> dict[str, str]:
    """What follows from a row's status (s.status), position (s.i) and creation time (s.at)."""
    reason = f"mod(s.i, {len(REASONS)})"
    codes = " ".join(f"WHEN {n} THEN {literal(code)}" for n, (code, _) in enumerate(REASONS))
    texts = " ".join(f"WHEN {n} THEN {literal(text)}" for n, (_, text) in enumerate(REASONS))
    went = "s.status IN ('sent', 'delivered', 'read', 'undelivered', 'failed', 'unknown')"
    with_id = "s.status IN ('sent', 'delivered', 'read', 'undelivered')"
    sent_at = f"s.at + make_interval(secs => s.i * {seconds_apart})"
    delivered_at = f"{sent_at} + interval '4 seconds'"
    return {
        "status": "s.status",
        "attempts": f"CASE WHEN {went} OR s.status = 'sending' THEN 1 ELSE 0 END",
        "claim_token": "CASE WHEN s.status = 'sending' THEN gen_random_uuid() END",
        "claimed_at": "CASE WHEN s.status = 'sending' THEN s.at END",
        "provider_message_id": f"CASE WHEN {with_id} THEN 'SM' || lpad(to_hex(s.uid), 32, '0') ELSE '' END",
        "error_code": (
            f"CASE WHEN s.status IN ('failed', 'undelivered') THEN CASE {reason} {codes} END "
            "WHEN s.status = 'cancelled' THEN 'opted_out' WHEN s.status = 'unknown' THEN 'no_answer' ELSE '' END"
        ),
        "error_message": (
            f"CASE WHEN s.status IN ('failed', 'undelivered') THEN CASE {reason} {texts} END "
            "WHEN s.status = 'cancelled' THEN 'The recipient opted out; nothing was sent.' "
            "WHEN s.status = 'unknown' THEN 'No answer from the provider' ELSE '' END"
        ),
        "created_at": "s.at",
        "sent_at": f"CASE WHEN {went} THEN {sent_at} END",
        "delivered_at": f"CASE WHEN s.status IN ('delivered', 'read') THEN {delivered_at} END",
        "updated_at": (
            f"CASE WHEN s.status IN ('delivered', 'read') THEN {delivered_at} WHEN {went} THEN {sent_at} ELSE s.at END"
        ),
    }


def insert_campaign(
    campaign: PlannedCampaign, campaign_id: int, at: datetime, channels: dict, first_contact: int, pool: int
) -> int:
    """One campaign's fan-out: a row per recipient, outcomes as far as it got (200 a second)."""
    from django.db import connection

    shares = FINISHED_WHATSAPP if campaign.channel == "whatsapp" else FINISHED_SMS
    handed = int(campaign.size * campaign.done)
    waiting = "'cancelled'" if campaign.status == "cancelled" else "'queued'"
    sending = 500 if campaign.status == "running" else 0
    status = (
        f"CASE WHEN i < {handed} THEN {status_case(shares, 'b')} WHEN b < 19 THEN 'cancelled' "
        f"WHEN i < {handed + sending} THEN 'sending' ELSE {waiting} END"
    )
    number = f"'{PHONE_PREFIX}' || lpad(s.k::text, 6, '0')"
    sender = "API" if campaign.kind == "bulk_api" else STAFF[campaign_id % len(STAFF)]
    computed = {
        **outcome_columns(seconds_apart=1 / 200),
        "campaign_id": str(int(campaign_id)),
        "channel_id": str(int(channels[campaign.channel])),
        "contact_id": f"{int(first_contact)} + s.k",
        "to": number,
        "recipient_key": number,
        "sender_label": literal(sender),
    }
    columns, values, params = message_columns(computed)
    sql = (
        f"INSERT INTO campaigns_outboundmessage ({columns}) SELECT {values} FROM ("
        f"SELECT i, k, b, at, uid, {status} AS status FROM ("
        f"SELECT i, mod(%s + i, {pool}) AS k, mod(i * 7919 + {campaign_id}, 1000) AS b, "
        f"%s::timestamptz AS at, {campaign_id}::bigint * 16777216 + i AS uid "
        f"FROM generate_series(0::bigint, %s - 1) AS g(i)) r) s"
    )
    offset = (campaign_id * 7919) % pool
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, offset, at, campaign.size])
    return campaign.size


def insert_singles(
    since: datetime,
    until: datetime,
    per_second: float,
    inserted: int,
    channels: dict[str, int],
    first_contact: int,
    pool: int,
    now: datetime,
) -> int:
    """Single and API messages created evenly between ``since`` and ``until``."""
    from django.db import connection

    seconds = (until - since).total_seconds()
    count = int(seconds * per_second)
    if count <= 0:
        return 0
    channel_case, upper = [], 0
    for key, (_, share) in CHANNELS.items():
        upper += share
        channel_case.append(f"WHEN s.c < {upper} THEN {int(channels[key])}")
    # Still waiting: scheduled for later (0.2%), and in the last hour some queued or on their way.
    status = (
        "CASE WHEN b < 2 THEN 'scheduled' WHEN at > %s AND b < 100 THEN 'queued' "
        f"WHEN at > %s AND b < 110 THEN 'sending' ELSE {status_case(FINISHED_SMS, 'mod(b * 13, 1000)')} END"
    )
    known = "mod(s.i, 10) < 7"  # seven in ten to a contact, the rest to numbers nobody imported
    staff = ", ".join(literal(name) for name in STAFF)
    computed = {
        **outcome_columns(seconds_apart=0),
        "campaign_id": "NULL",
        "contact_id": f"CASE WHEN {known} THEN {int(first_contact)} + s.k END",
        "to": f"CASE WHEN {known} THEN '{PHONE_PREFIX}' ELSE '{STRANGER_PREFIX}' END || lpad(s.k::text, 6, '0')",
        "recipient_key": "''",
        "body": "(ARRAY[" + ", ".join(literal(text) for text in SINGLE_TEXTS) + "])[1 + mod(s.i, 5)]",
        "send_at": "CASE WHEN s.status = 'scheduled' THEN s.at + make_interval(days => 1 + mod(s.i, 30)::int) END",
        "channel_id": f"CASE {' '.join(channel_case)} END",
        "sender_label": f"CASE WHEN mod(s.i, 5) = 0 THEN (ARRAY[{staff}])[1 + mod(s.i / 5, 5)] ELSE 'API' END",
    }
    columns, values, params = message_columns(computed)
    sql = (
        f"INSERT INTO campaigns_outboundmessage ({columns}) SELECT {values} FROM ("
        f"SELECT i, k, b, c, at, uid, {status} AS status FROM ("
        f"SELECT i, mod(%s + i, {pool}) AS k, mod((%s + i) * 7919, 1000) AS b, mod((%s + i) * 31, 10000) AS c, "
        "%s::timestamptz + make_interval(secs => i * %s) AS at, %s + i AS uid "
        "FROM generate_series(0::bigint, %s - 1) AS g(i)) r) s"
    )
    recent = now - timedelta(hours=1)
    step = seconds / count
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [*params, recent, recent, inserted * 7, inserted, inserted, since, step, (1 << 40) + inserted, count]
        )
    return count


def finish_campaigns(made: dict[str, int]) -> None:
    """Each campaign's recipient count, start and end, as the fan-out and the last send left them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE campaigns_campaign c SET recipient_count = m.n, fanned_out_at = m.first, started_at = m.first, "
            "finished_at = CASE WHEN c.status IN ('completed', 'cancelled') THEN m.last END, "
            "archived_at = CASE WHEN c.kind = 'campaign' AND c.status = 'completed' "
            "AND m.first < now() - interval '45 days' THEN m.last END "
            "FROM (SELECT campaign_id, count(*) AS n, min(created_at) AS first, "
            "max(coalesce(sent_at, created_at)) AS last FROM campaigns_outboundmessage "
            "WHERE campaign_id = ANY(%s) GROUP BY campaign_id) m WHERE m.campaign_id = c.id",
            [list(made.values())],
        )

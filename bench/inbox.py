"""The inbox at 1,000,000 replies: its list and a conversation's page each within 500 ms (issue 16, item 10).

Builds BENCH_INBOX_REPLIES replies (1,000,000 by default) in a quarter as many conversations, one
contact and one campaign message per conversation, on an SMS and a WhatsApp channel, a tenth of the
conversations unread, a third done, half answering one of five campaigns, one reply in 20 a keyword;
and one long conversation of 5,000 replies and 500 messages of ours. PostgreSQL builds it all with
INSERT ... SELECT over generate_series, each table's rows cloned from one row the ORM made (so a
column added later gets that row's value), then VACUUM ANALYZE as autovacuum would. Each page is
fetched through the real admin (Django's test client; the whole request) by a superuser and a member
of Marketing, five times after a warm-up; a page's figure is the slower one's median. Everything it
made is deleted afterwards.

    DATABASE_URL=postgres://.../wt_inbox make bench ARGS=inbox
"""

from __future__ import annotations

import os
import secrets
import time
from urllib.parse import urlencode

from bench.admin_pages import admin_pages_served, load_average, logged_in, page_row, timed_get
from bench.harness import prepare_django

BENCH = "inbox"
REPEATS = 5
INBOX = "/admin/campaigns/conversation/"
LONG_REPLIES = 5_000
LONG_OURS = 500
CAMPAIGNS = 5


def unavailable() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return (
            f"inbox needs PostgreSQL (it builds 1,000,000 replies with generate_series, and its target is "
            f"PostgreSQL's), not {connection.vendor}: set DATABASE_URL=postgres://... to a database of its own."
        )
    return None


def reply_count() -> int:
    return int(os.environ.get("BENCH_INBOX_REPLIES", "1000000"))


# --- building -----------------------------------------------------------------------------------------------


def clone(model, template_pk: int, count: int, overrides: dict[str, str], params: dict) -> None:
    """``count`` copies of one row, numbered n = 1..count, with ``overrides`` (SQL over n) for some columns."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [field.column for field in model._meta.concrete_fields if not field.primary_key]
    unknown = set(overrides) - set(columns)
    assert not unknown, unknown
    chosen = [overrides.get(column, f"t.{quote(column)}") for column in columns]
    sql = (
        f"INSERT INTO {table} ({', '.join(map(quote, columns))}) "  # our own column names
        f"SELECT {', '.join(chosen)} FROM generate_series(1, %(count)s) AS n, {table} AS t WHERE t.id = %(template)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "count": count, "template": template_pk})


def first_id_after(model, template_pk: int, count: int) -> int:
    """The clones' ids are the ``count`` ids after the template's (this database is the bench's own)."""
    ids = model.objects.filter(pk__gt=template_pk).order_by("pk").values_list("pk", flat=True)
    first, last = ids.first(), ids.last()
    assert last - first + 1 == count, (first, last, count)
    return first


class Built:
    """What the pages are tried on."""

    def __init__(self, tag: str, area: str) -> None:
        self.tag, self.area = tag, area


def build(tag: str, area: str, replies: int) -> Built:
    from django.utils import timezone

    from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage
    from contacts.models import Contact
    from providers.models import Channel

    built = Built(tag, area)
    conversations = replies // 4
    sms = Channel.objects.create(name=f"Bench inbox SMS {tag}", provider="sandbox", sender="+15005550006")
    whatsapp = Channel.objects.create(
        name=f"Bench inbox WhatsApp {tag}", provider="twlowa", sender="whatsapp:+15005550006"
    )
    campaigns = [
        Campaign.objects.create(name=f"Bench inbox {tag} {n}", channel=sms, text="Hi", status="completed").pk
        for n in range(CAMPAIGNS)
    ]
    now = timezone.now()
    params = {
        "area": area,
        "sms": sms.pk,
        "wa": whatsapp.pk,
        "now": now,
        "span_seconds": 90 * 86400 / conversations,
        "conversations": conversations,
        "campaigns": campaigns,
    }
    phone = "'+1' || %(area)s || lpad({n}::text, 7, '0')"

    contact = Contact.objects.create(phone=f"+1{area}9999999", name="Template")
    clone(Contact, contact.pk, conversations, {"phone": phone.format(n="n"), "name": "'Contact ' || n"}, params)
    params["first_contact"] = first_id_after(Contact, contact.pk, conversations)

    # Conversation n: its last message n * span seconds ago (1 is the newest), on WhatsApp when n is a multiple of 4.
    conversation = Conversation.objects.create(channel=sms, phone=f"+1{area}9999999", last_message_at=now)
    last = "%(now)s - n * %(span_seconds)s * interval '1 second'"
    clone(
        Conversation,
        conversation.pk,
        conversations,
        {
            "channel_id": "CASE WHEN mod(n, 4) = 0 THEN %(wa)s ELSE %(sms)s END",
            "phone": phone.format(n="n"),
            "contact_id": "%(first_contact)s + n - 1",
            "state": "CASE WHEN mod(n, 3) = 0 THEN 'done' ELSE 'open' END",
            "unread_count": "CASE WHEN mod(n, 10) = 0 THEN 1 + mod(n, 3) ELSE 0 END",
            "last_message_at": last,
            "last_inbound_at": last,
            "last_text": "'What time does the sale start? (' || n || ')'",
            "last_campaign_id": "CASE WHEN mod(n, 2) = 0 THEN (%(campaigns)s::bigint[])[1 + mod(n, 5)] ELSE NULL END",
        },
        params,
    )
    params["first_conversation"] = first_id_after(Conversation, conversation.pk, conversations)

    # Reply k belongs to conversation c = 1 + k % conversations, an hour before the one after it.
    inbound = InboundMessage.objects.create(
        channel=sms, conversation=conversation, phone=conversation.phone, text="Template", received_at=now
    )
    c = "(1 + mod(n, %(conversations)s))"
    clone(
        InboundMessage,
        inbound.pk,
        replies,
        {
            "channel_id": f"CASE WHEN mod({c}, 4) = 0 THEN %(wa)s ELSE %(sms)s END",
            "conversation_id": f"%(first_conversation)s + {c} - 1",
            "contact_id": f"%(first_contact)s + {c} - 1",
            "phone": phone.format(n=c),
            "text": "'Reply text ' || n",
            "provider_message_id": "'SMbench' || n",
            "received_at": f"%(now)s - {c} * %(span_seconds)s * interval '1 second' "
            f"- (n / %(conversations)s) * interval '1 hour'",
            "keyword": "CASE WHEN mod(n, 20) = 0 THEN 'STOP' WHEN mod(n, 20) = 1 THEN 'HELP' ELSE '' END",
            "campaign_id": f"CASE WHEN mod({c}, 2) = 0 THEN (%(campaigns)s::bigint[])[1 + mod({c}, 5)] ELSE NULL END",
        },
        params,
    )
    ours = OutboundMessage.objects.create(
        channel=sms, to=conversation.phone, body="Template", status=OutboundMessage.Status.DELIVERED
    )
    clone(
        OutboundMessage,
        ours.pk,
        conversations,
        {
            "channel_id": "CASE WHEN mod(n, 4) = 0 THEN %(wa)s ELSE %(sms)s END",
            "to": phone.format(n="n"),
            "contact_id": "%(first_contact)s + n - 1",
            "campaign_id": "(%(campaigns)s::bigint[])[1 + mod(n, 5)]",
            "recipient_key": phone.format(n="n"),
            "body": "'Spring sale starts Friday (' || n || ')'",
            "created_at": "%(now)s - n * %(span_seconds)s * interval '1 second' - interval '2 days'",
        },
        params,
    )
    build_long_conversation(built, params, inbound.pk, ours.pk)
    built.conversation = Conversation.objects.get(pk=params["first_conversation"] + 1)  # n = 2: SMS
    built.campaign = campaigns[2]
    built.channels = (sms, whatsapp)
    return built


def build_long_conversation(built: Built, params: dict, inbound_pk: int, ours_pk: int) -> None:
    """Conversation 2 (on SMS, among the newest) gets 5,000 more replies and 500 single messages of ours."""
    from campaigns.models import InboundMessage, OutboundMessage

    two = {**params, "two": params["first_conversation"] + 1, "phone": f"+1{built.area}0000002"}
    clone(
        InboundMessage,
        inbound_pk,
        LONG_REPLIES,
        {
            "conversation_id": "%(two)s",
            "phone": "%(phone)s",
            "text": "'Long thread reply ' || n",
            "received_at": "%(now)s - n * interval '10 minutes'",
        },
        two,
    )
    clone(
        OutboundMessage,
        ours_pk,
        LONG_OURS,
        {"to": "%(phone)s", "body": "'Our answer ' || n", "created_at": "%(now)s - n * interval '97 minutes'"},
        two,
    )


def analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("contacts_contact", "campaigns_conversation", "campaigns_inboundmessage"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("ANALYZE campaigns_outboundmessage")


def clean_up(built: Built) -> None:
    from django.db import connection

    from campaigns.models import Campaign
    from providers.models import Channel

    channels = [channel.pk for channel in getattr(built, "channels", ())] or list(
        Channel.objects.filter(name__endswith=built.tag, name__startswith="Bench inbox").values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        if channels:
            cursor.execute("DELETE FROM campaigns_inboundmessage WHERE channel_id = ANY(%s)", [channels])
            # Each message deleted next checks that no reply names it (in_reply_to has no index): on a
            # million dead rows that check would take hours, on a vacuumed table it takes nothing.
            cursor.execute("VACUUM campaigns_inboundmessage")
            for table in ("campaigns_outboundmessage", "campaigns_conversation"):
                cursor.execute(f"DELETE FROM {table} WHERE channel_id = ANY(%s)", [channels])
        cursor.execute("DELETE FROM contacts_contact WHERE phone LIKE %s", [f"+1{built.area}%"])
    Campaign.objects.filter(name__startswith=f"Bench inbox {built.tag}").delete()
    Channel.objects.filter(pk__in=channels).delete()


# --- timing -------------------------------------------------------------------------------------------------


def inbox(query: dict | None = None) -> str:
    return INBOX + (f"?{urlencode(query)}" if query else "")


def pages(built: Built) -> list[tuple[str, str]]:
    from campaigns.conversations.inbox import timeline

    sms, whatsapp = built.channels
    long = built.conversation
    older = timeline(long).older_before
    page_url = f"{INBOX}{long.pk}/change/"
    phone = f"+1{built.area}0123456"
    return [
        ("inbox, newest first", inbox()),
        ("inbox, unread", inbox({"unread": "yes"})),
        ("inbox, all read", inbox({"unread": "no"})),
        ("inbox, keyword replies", inbox({"keyword": "yes"})),
        ("inbox, no keyword reply", inbox({"keyword": "no"})),
        ("inbox, channel WhatsApp", inbox({"channel__id__exact": whatsapp.pk})),
        ("inbox, channel SMS", inbox({"channel__id__exact": sms.pk})),
        ("inbox, campaign replied to", inbox({"campaign": built.campaign})),
        ("inbox, done", inbox({"state__exact": "done"})),
        (
            "inbox, unread and keyword and WhatsApp",
            inbox({"unread": "yes", "keyword": "yes", "channel__id__exact": whatsapp.pk}),
        ),
        ("inbox, search whole number", inbox({"q": phone})),
        ("inbox, search number start", inbox({"q": phone[:8]})),
        ("inbox, page 100", inbox({"p": 100})),
        ("inbox live updates JSON", f"{INBOX}updates.json"),
        (f"conversation page, {LONG_REPLIES + 4:,} replies and {LONG_OURS + 1} ours", page_url),
        ("conversation page, older messages", f"{page_url}?{urlencode({'before': older.isoformat()})}"),
        ("conversation live updates JSON", f"{INBOX}{long.pk}/updates.json"),
        ("conversation page, a short one", f"{INBOX}{long.pk + 1000}/change/"),
        ("dashboard (unread replies)", "/admin/"),
    ]


def staff_users(tag: str) -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    users = get_user_model().objects
    superuser = users.create_superuser(f"bench-inbox-{tag}", f"inbox-{tag}@example.com", secrets.token_hex(16))
    marketing = users.create_user(f"bench-inbox-marketing-{tag}", password=secrets.token_hex(16), is_staff=True)
    marketing.groups.add(Group.objects.get(name="Marketing"))
    return {"staff": superuser, "marketing": marketing}


def measure() -> list[dict]:
    prepare_django()
    from django.db import connection
    from django.test.utils import override_settings

    tag, area = secrets.token_hex(3), str(200 + secrets.randbelow(700))
    replies = reply_count()
    people = staff_users(tag)
    built = Built(tag, area)
    rows = []
    try:
        started = time.monotonic()
        built = build(tag, area, replies)
        analyse()
        seconds = time.monotonic() - started
        # The superuser signs in with a second factor in production; the pages are timed after it.
        with admin_pages_served(), override_settings(REQUIRE_2FA_FOR_SUPERUSERS=False):
            clients = {role: logged_in(user) for role, user in people.items()}
            for name, url in pages(built):
                times = {role: timed_get(client, url, REPEATS) for role, client in clients.items()}
                slower = max(times, key=times.get)
                note = f"slower: {slower}; " + ", ".join(f"{role} {ms:.0f} ms" for role, ms in times.items())
                rows.append(page_row(BENCH, name, times[slower], note, connection.vendor))
    finally:
        clean_up(built)
        for user in people.values():
            user.delete()
    total = replies + LONG_REPLIES + 1
    rows[0]["note"] = f"built {total:,} replies in {replies // 4:,} conversations in {seconds:.0f} s; {load_average()}"
    return rows


def run() -> list[dict]:
    return measure()

"""Storing replies: each inbound event once, linked to its contact, its conversation and the message it
most likely answers, then acted on if it is a keyword.

Built for batches (the receiving worker, campaigns.receiving, hands over up to thousands at a time):
a batch of 1,000 costs about fifteen statements whatever its mix (and a few for each keyword), not
one per message. A provider's retry is stored once: InboundMessage is unique by (channel, provider
id), the insert skips what is there (ON CONFLICT DO NOTHING / INSERT OR IGNORE) and says which rows
it wrote, so only those count as unread and go through the keywords, even when two workers take the
same retry at once. A refused event (its channel deleted meanwhile, a number that is not E.164) is
logged with its reason and left out; the rest of its batch is stored.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from campaigns.analytics import tally_replies
from campaigns.conversations.keywords import act_on_keyword
from campaigns.events import record_replies
from campaigns.models import Conversation, InboundMessage, OutboundMessage
from campaigns.models.keywords import STOP
from contacts.models import Contact, mirror_on_contacts
from providers.events import InboundEvent
from providers.models import Channel
from providers.webhook_input import MAX_ID_CHARS, MAX_MEDIA_URL_CHARS, MAX_TEXT_CHARS

log = logging.getLogger(__name__)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
ROWS_PER_STATEMENT = 1000  # keeps an INSERT under PostgreSQL's 65,535 parameters (13 a row)
PROFILE_NAME_CHARS = InboundMessage._meta.get_field("profile_name").max_length


@dataclass
class Outcome:
    """What became of a batch: every event is stored, a duplicate of one stored, or refused with why."""

    stored: list[InboundMessage] = field(default_factory=list)
    duplicates: int = 0
    refused: list[tuple[InboundEvent, str]] = field(default_factory=list)


def receive(events: Sequence[InboundEvent]) -> Outcome:
    """Store each event once, link it and act on its keyword; see the module docstring."""
    outcome = Outcome()
    for start in range(0, len(events), ROWS_PER_STATEMENT):
        with transaction.atomic():
            _receive_chunk(events[start : start + ROWS_PER_STATEMENT], outcome)
    return outcome


def _receive_chunk(events: Sequence[InboundEvent], outcome: Outcome) -> None:
    now = timezone.now()
    channels = Channel.objects.in_bulk({event.channel_id for event in events})
    accepted = _accepted(events, channels, outcome)
    if not accepted:
        return
    contacts = contacts_by_phone(accepted)
    conversations = conversations_by_number(accepted, contacts, now)
    answered = replied_to(accepted, now)
    rows = [
        _message(event, contacts[event.phone], conversations[event.channel_id, event.phone], answered[i], now)
        for i, event in enumerate(accepted)
    ]
    rows.sort(key=lambda row: (row.channel_id, row.provider_message_id))  # one order for every worker
    new_ids = insert_new(InboundMessage, rows)
    outcome.duplicates += len(rows) - len(new_ids)
    if not new_ids:
        return
    stored = list(InboundMessage.objects.filter(pk__in=new_ids).order_by("received_at", "id"))
    update_conversations(stored)
    record_keywords(stored, channels, {(e.channel_id, e.provider_message_id): e for e in accepted})
    record_replies(stored)  # message.replied for the event webhooks, in this same transaction
    tally_stored_replies(stored)
    outcome.stored.extend(stored)
    log.info("stored %d replies (%d already stored)", len(stored), len(rows) - len(stored))


def _accepted(events: Iterable[InboundEvent], channels: dict[int, Channel], outcome: Outcome) -> list:
    """The events to store: refused ones noted with their reason, repeats within the batch counted."""
    accepted, seen = [], set()
    for event in events:
        reason = refusal(event, channels)
        if reason:
            log.warning("reply refused on channel %s from %r: %s", event.channel_id, event.phone, reason)
            outcome.refused.append((event, reason))
        elif event.provider_message_id and (event.channel_id, event.provider_message_id) in seen:
            outcome.duplicates += 1
        else:
            seen.add((event.channel_id, event.provider_message_id))
            accepted.append(event)
    return accepted


def refusal(event: InboundEvent, channels: dict[int, Channel]) -> str:
    """Why this event cannot be stored, or "". The webhooks refuse all of these first; this is the
    last guard for events from elsewhere (a queue written by an older version)."""
    if event.channel_id not in channels:
        return f"channel {event.channel_id} does not exist (deleted since the reply came?)."
    if not E164.fullmatch(event.phone):
        return f"phone: {event.phone[:30]!r} is not an E.164 number."
    if len(event.text) > MAX_TEXT_CHARS:
        return f"text: {len(event.text):,} characters, more than the {MAX_TEXT_CHARS:,} a reply may have."
    if len(event.provider_message_id) > MAX_ID_CHARS:
        return f"provider_message_id: longer than {MAX_ID_CHARS} characters."
    if any(len(media.url) > MAX_MEDIA_URL_CHARS for media in event.media):
        return f"media: a URL longer than {MAX_MEDIA_URL_CHARS:,} characters."
    return ""


def _message(event: InboundEvent, contact_id: int, conversation_id: int, answers: tuple, now: datetime):
    outbound_id, campaign_id = answers
    return InboundMessage(
        channel_id=event.channel_id,
        conversation_id=conversation_id,
        contact_id=contact_id,
        phone=event.phone,
        text=event.text,
        media=[{"url": media.url, "type": media.content_type[:100]} for media in event.media],
        profile_name=event.profile_name[:PROFILE_NAME_CHARS],
        provider_message_id=event.provider_message_id,
        received_at=event.at or now,
        in_reply_to_id=outbound_id,
        campaign_id=campaign_id,
    )


def contacts_by_phone(events: Iterable[InboundEvent]) -> dict[str, int]:
    """Each sender's contact id; a number we never had gets a contact marked as coming from a reply,
    on no list (named as its WhatsApp profile says, if it says)."""
    names = {event.phone: event.profile_name[:200] for event in events}
    found = dict(Contact.objects.filter(phone__in=list(names)).order_by().values_list("phone", "pk"))
    missing = sorted(set(names) - set(found))
    if missing:
        insert_new(Contact, [Contact(phone=phone, name=names[phone], origin=Contact.Origin.REPLY) for phone in missing])
        new = Contact.objects.filter(phone__in=missing)
        found.update(new.order_by().values_list("phone", "pk"))
        mirror_on_contacts(new)  # a suppressed number's new contact shows it opted out
    return found


def conversations_by_number(events: Iterable[InboundEvent], contacts: dict[str, int], now: datetime) -> dict:
    """Each (channel, number)'s conversation id, opening one where there is none yet."""
    earliest: dict[tuple[int, str], datetime] = {}
    for event in events:
        key = (event.channel_id, event.phone)
        earliest[key] = min(earliest.get(key, event.at or now), event.at or now)
    found = _conversation_ids(earliest)
    missing = sorted(key for key in earliest if key not in found)  # one order: no deadlock between workers
    if missing:
        # Opened as of its earliest reply here, so update_conversations takes the batch's newest.
        new = [
            Conversation(channel_id=c, phone=p, contact_id=contacts[p], last_message_at=earliest[c, p])
            for c, p in missing
        ]
        insert_new(Conversation, new)
        found.update(_conversation_ids(missing))
    return found


def _conversation_ids(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    keys = set(keys)
    rows = (
        Conversation.objects.filter(channel_id__in={c for c, _ in keys}, phone__in={p for _, p in keys})
        .order_by()
        .values_list("channel_id", "phone", "pk")
    )
    return {(c, p): pk for c, p, pk in rows if (c, p) in keys}


def replied_to(events: Sequence[InboundEvent], now: datetime) -> list[tuple[int | None, int | None]]:
    """For each event, the (message id, campaign id) it answers: the one its app quoted, when the
    provider says; else the latest message sent to its number on its channel at most
    INBOUND_REPLY_WINDOW_DAYS before it; (None, None) if none was."""
    quoted = quoted_messages(events)
    window = timedelta(days=settings.INBOUND_REPLY_WINDOW_DAYS)
    sent: dict[tuple[int, str], list[tuple[datetime, int, int | None]]] = defaultdict(list)
    by_channel: dict[int, list[InboundEvent]] = defaultdict(list)
    for event in events:
        if (event.channel_id, event.replied_to_provider_id) not in quoted:
            by_channel[event.channel_id].append(event)
    for channel_id, group in by_channel.items():
        times = [event.at or now for event in group]
        rows = OutboundMessage.objects.filter(
            channel_id=channel_id,
            to__in={event.phone for event in group},
            sent_at__gte=min(times) - window,
            sent_at__lte=max(times),
        ).values_list("to", "sent_at", "pk", "campaign_id")
        for to, sent_at, pk, campaign_id in rows.order_by():
            sent[channel_id, to].append((sent_at, pk, campaign_id))
    for messages in sent.values():
        messages.sort()
    return [
        quoted.get((e.channel_id, e.replied_to_provider_id))
        or _latest_before(sent.get((e.channel_id, e.phone), []), e.at or now, window)
        for e in events
    ]


def quoted_messages(events: Sequence[InboundEvent]) -> dict[tuple[int, str], tuple[int, int | None]]:
    """(channel, provider id) -> (message id, campaign id) of the messages replies quote (one query)."""
    wanted = {(e.channel_id, e.replied_to_provider_id) for e in events if e.replied_to_provider_id}
    if not wanted:
        return {}
    rows = (
        OutboundMessage.objects.filter(
            channel_id__in={c for c, _ in wanted}, provider_message_id__in={p for _, p in wanted}
        )
        .exclude(provider_message_id="")  # lets PostgreSQL use the partial index msg_provider_id
        .values_list("channel_id", "provider_message_id", "pk", "campaign_id")
    )
    return {(c, p): (pk, campaign) for c, p, pk, campaign in rows.order_by() if (c, p) in wanted}


def _latest_before(sent: list, at: datetime, window: timedelta) -> tuple[int | None, int | None]:
    # sent is sorted by (sent_at, id): the last one at or before the reply, if within the window.
    index = bisect.bisect_right(sent, (at, float("inf"), 0)) - 1
    if index < 0 or sent[index][0] < at - window:
        return None, None
    return sent[index][1], sent[index][2]


def update_conversations(stored: list[InboundMessage]) -> None:
    """Count the new replies as unread and move each conversation to its newest message; an older
    reply arriving late (out of order) adds to the count and changes nothing else.

    The conversations are locked (in id order, so two workers cannot deadlock on them), worked out
    here and written back in one UPDATE: correlated subqueries per row cost more than the rest of
    the batch together."""
    by_conversation: dict[int, list[InboundMessage]] = defaultdict(list)
    for message in stored:
        by_conversation[message.conversation_id].append(message)
    conversations = list(
        Conversation.objects.select_for_update().filter(pk__in=list(by_conversation)).order_by("pk").only(*TRACKED)
    )
    for conversation in conversations:
        _move_forward(conversation, by_conversation[conversation.pk])
    write_back(conversations)


TRACKED = ["unread_count", "state", "last_message_at", "last_inbound_at", "last_text", "last_campaign", "contact"]
# PostgreSQL types a VALUES list from its contents, so each column says its type (SQLite needs none).
POSTGRES_TYPES = ["bigint", "integer", "varchar", "timestamptz", "timestamptz", "varchar", "bigint", "bigint"]


def write_back(conversations: list[Conversation]) -> None:
    """UPDATE ... FROM a VALUES list: one statement for a thousand rows (Django's bulk_update builds a
    CASE per field and row, and took seconds for a batch)."""
    db = router.db_for_write(Conversation)
    connection = connections[db]
    fields = [Conversation._meta.pk] + [Conversation._meta.get_field(name) for name in TRACKED]
    columns = [field.column for field in fields]
    casts = POSTGRES_TYPES if connection.vendor == "postgresql" else [""] * len(fields)
    row_sql = "(" + ", ".join(f"%s::{cast}" if cast else "%s" for cast in casts) + ")"
    table = connection.ops.quote_name(Conversation._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    sets = ", ".join(f"{connection.ops.quote_name(c)} = v.{connection.ops.quote_name(c)}" for c in columns[1:])
    for start in range(0, len(conversations), ROWS_PER_STATEMENT):
        batch = conversations[start : start + ROWS_PER_STATEMENT]
        params = [
            field.get_db_prep_save(getattr(conversation, field.attname), connection)
            for conversation in batch
            for field in fields
        ]
        values = ", ".join([row_sql] * len(batch))
        # Built from our own table and column names only; every value is a parameter.
        sql = f"WITH v ({names}) AS (VALUES {values}) UPDATE {table} SET {sets} FROM v WHERE {table}.id = v.id"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _move_forward(conversation: Conversation, messages: list[InboundMessage]) -> None:
    newest = max(messages, key=lambda message: (message.received_at, message.pk))
    conversation.unread_count += len(messages)
    conversation.state = Conversation.State.OPEN
    if conversation.last_inbound_at is None or conversation.last_inbound_at < newest.received_at:
        conversation.last_inbound_at = newest.received_at
    if conversation.contact_id is None:  # its contact was deleted: the number's new one
        conversation.contact_id = newest.contact_id
    if conversation.last_message_at <= newest.received_at:
        conversation.last_message_at = newest.received_at
        conversation.last_text = newest.text[:200]
        conversation.last_campaign_id = newest.campaign_id or conversation.last_campaign_id


def record_keywords(stored: list[InboundMessage], channels: dict[int, Channel], events: dict) -> None:
    """Act on each new message's keyword (campaigns.conversations.keywords) and record it."""
    by_keyword: dict[str, list[int]] = defaultdict(list)
    for message in stored:
        message.channel = channels[message.channel_id]
        event = events.get((message.channel_id, message.provider_message_id))
        message.keyword = act_on_keyword(message, event.opt_out_word if event else "")
        if message.keyword:
            by_keyword[message.keyword].append(message.pk)
    for keyword, ids in by_keyword.items():
        InboundMessage.objects.filter(pk__in=ids).update(keyword=keyword[:20])


def tally_stored_replies(stored: list[InboundMessage]) -> None:
    """The analytics tallies of the replies this batch stored (only those it wrote: a retry adds
    nothing): each reply, the first from its number to its campaign, and its first opt-out (a
    number that says STOP twice opted out once, as the A/B table counts it)."""
    answering = [message for message in stored if message.campaign_id]
    earlier = (
        set(
            InboundMessage.objects.filter(
                campaign_id__in={m.campaign_id for m in answering}, phone__in={m.phone for m in answering}
            )
            .exclude(pk__in=[m.pk for m in stored])
            .order_by()
            .values_list("campaign_id", "phone", "keyword")
            .distinct()
        )
        if answering
        else set()
    )
    replied = {(campaign_id, phone) for campaign_id, phone, _ in earlier}
    stopped = {(campaign_id, phone) for campaign_id, phone, keyword in earlier if keyword == STOP}
    first, opt_outs = set(), set()
    for message in stored:  # in received order
        key = (message.campaign_id, message.phone)
        if message.campaign_id and key not in replied:
            replied.add(key)
            first.add(message.pk)
        if message.keyword == STOP and (not message.campaign_id or key not in stopped):
            stopped.add(key)
            opt_outs.add(message.pk)
    answered = {m.in_reply_to_id for m in answering if m.in_reply_to_id}
    variants = dict(
        OutboundMessage.objects.filter(pk__in=answered, variant__isnull=False).values_list("pk", "variant")
        if answered
        else []
    )
    replies = [
        (m.pk, m.campaign_id, m.channel_id, m.phone, variants.get(m.in_reply_to_id), m.received_at) for m in stored
    ]
    tally_replies(replies, first, opt_outs)


def insert_new(model: type[models.Model], rows: list[models.Model]) -> list[int]:
    """INSERT rows, skipping any a unique constraint already has; the ids of the rows written.

    Django's bulk_create(ignore_conflicts=True) says nothing about which rows went in, so this asks
    the database itself (RETURNING, which PostgreSQL and SQLite >= 3.35 give for the rows written).
    """
    if not rows:
        return []
    db = router.db_for_write(model)
    assert connections[db].features.can_return_rows_from_bulk_insert, "needs INSERT ... RETURNING"
    manager = model._base_manager
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    ids = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        batch = rows[start : start + ROWS_PER_STATEMENT]
        for row in batch:
            row._prepare_related_fields_for_save(operation_name="insert_new")
        returned = manager._insert(
            batch, fields=fields, using=db, on_conflict=OnConflict.IGNORE, returning_fields=[model._meta.pk]
        )
        ids.extend(row[0] for row in returned if row is not None)
    return ids

"""Delivery receipts applied a batch at a time, with the same outcome as one at a time.

campaigns.pipeline.receipts.apply_receipt applies one receipt with one UPDATE. Here a batch of
thousands costs a few statements: one SELECT finds every message the batch names, each message's
receipts are played in arrival order on what was read (the same forward-only rule, RANK), one
UPDATE ... FROM (VALUES ...) per slice writes the messages that moved, and their customers' events
(campaigns/events/) are recorded per state in the same transaction. That UPDATE only takes a
message still in the state it was read in; a message the send path moved meanwhile gets its
receipts again one by one (apply_receipt), so nothing is lost to the race.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from campaigns.analytics import tally_receipts
from campaigns.analytics.outcomes import first_taken
from campaigns.events import record_message_events
from campaigns.models import OutboundMessage
from campaigns.pipeline.receipts import FINAL_FAILURES, RANK, apply_receipt, opt_out_recipients
from campaigns.whatsapp.fallback import after_failures
from providers.events import ReceiptEvent

log = logging.getLogger(__name__)
Status = OutboundMessage.Status
UNKNOWN_IDS_LOGGED = 5  # a batch of receipts for unknown messages logs one line naming this many


@dataclass
class Message:
    """A message as the batch read it, then as its receipts move it."""

    pk: int
    channel_id: int
    status: str
    provider_message_id: str
    delivered_at: datetime | None
    error_code: str
    error_message: str
    campaign_id: int | None = None
    to: str = ""
    variant: int | None = None  # its A/B position, for the tallies by variant
    sent_at: datetime | None = None  # set once a provider has it (the analytics count it sent then)
    read_status: str = ""  # the status the UPDATE expects to find
    taken: bool = False  # a provider had it when read (counted sent already)
    opted_out: bool = False  # its failure says the recipient unsubscribed (Twilio's 21610)
    moved_to: list[str] = field(default_factory=list)  # each state a receipt moved it to (the counters)
    receipts: list[ReceiptEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.read_status = self.status
        self.taken = self.sent_at is not None

    def advance(self, event: ReceiptEvent, now: datetime) -> bool:
        """What apply_receipt would do to this message: only forward, and only once a provider has it."""
        status = Status(event.state.value)
        if not RANK[Status.SENDING] <= RANK[Status(self.status)] < RANK[status]:
            return False
        self.status = status
        self.sent_at = self.sent_at or min(event.at or now, now)  # a receipt shows a provider has it
        if event.provider_message_id:
            self.provider_message_id = event.provider_message_id
        if status in (Status.DELIVERED, Status.READ):
            self.delivered_at = min(event.at or now, now)
        if status in FINAL_FAILURES:
            self.error_code, self.error_message = event.error_code[:32], event.error_message
            self.opted_out = bool(event.opt_out_reason)
        self.moved_to.append(status)
        return True


@dataclass
class ReceiptsApplied:
    moved: int = 0  # receipts that moved a message
    unknown: int = 0  # receipts naming no message we have (dropped)
    counts: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))  # channel -> state -> n


def apply_receipts(events: list[ReceiptEvent]) -> ReceiptsApplied:
    """Apply receipts in arrival order, as apply_receipt would one at a time, in a few statements.
    Call inside a transaction; the counts are for count_outcomes once it commits."""
    result = ReceiptsApplied()
    if not events:
        return result
    now = timezone.now()
    book = MessageBook(events)
    unknown = []
    for event in events:
        messages = book.find(event)
        if not messages:
            unknown.append(event)
        for message in messages:
            message.receipts.append(event)
            if message.advance(event, now):
                book.note_provider_id(message)
    moved = [message for message in book.messages.values() if message.moved_to]
    written = write(moved, now)
    record_events([message for message in moved if message.pk in written])
    tally([message for message in moved if message.pk in written], now)
    # WhatsApp failures that call for an SMS: the fallbacks commit with this batch (campaigns/whatsapp/).
    after_failures([m.pk for m in moved if m.pk in written and m.status in FINAL_FAILURES])
    for message in moved:
        if message.pk in written:
            result.counts[message.channel_id].update(message.moved_to)
            result.moved += len(message.moved_to)
        else:
            replay(message, result)
    result.unknown = len(unknown)
    if unknown:
        shown = ", ".join(repr(e.provider_message_id or e.message_id) for e in unknown[:UNKNOWN_IDS_LOGGED])
        more = ", ..." if len(unknown) > UNKNOWN_IDS_LOGGED else ""
        log.warning("%d receipt(s) for unknown messages ignored (%s%s)", len(unknown), shown, more)
    opt_out_recipients(events)
    return result


class MessageBook:
    """The messages a batch of receipts names, read in one query, found as _lookup finds them."""

    def __init__(self, events: list[ReceiptEvent]) -> None:
        ours = {e.message_id for e in events if e.message_id is not None}
        theirs = {e.provider_message_id for e in events if e.message_id is None and e.provider_message_id}
        channels = {e.channel_id for e in events}
        self.messages: dict[int, Message] = {}
        self.by_provider_id: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in _named(ours, theirs, channels):
            self.add(Message(*row))

    def add(self, message: Message) -> Message:
        if message.pk not in self.messages:
            self.messages[message.pk] = message
            self.note_provider_id(message)
        return self.messages[message.pk]

    def note_provider_id(self, message: Message) -> None:
        if message.provider_message_id:
            pks = self.by_provider_id[(message.channel_id, message.provider_message_id)]
            if message.pk not in pks:
                pks.append(message.pk)

    def find(self, event: ReceiptEvent) -> list[Message]:
        """Our id when the provider echoed it; else the provider's id; else, for a bulk send whose
        provider id is not saved yet, the one message still being sent to that number."""
        if event.message_id is not None:
            message = self.messages.get(event.message_id)
            return [message] if message and message.channel_id == event.channel_id else []
        if not event.provider_message_id:
            return []  # an empty id must never match the messages whose id is not saved yet
        pks = self.by_provider_id.get((event.channel_id, event.provider_message_id))
        if pks:
            return [self.messages[pk] for pk in pks]
        return self.in_flight(event) if event.recipient else []

    def in_flight(self, event: ReceiptEvent) -> list[Message]:
        rows = list(
            OutboundMessage.objects.filter(
                channel_id=event.channel_id, to=event.recipient, status=Status.SENDING, provider_message_id=""
            ).values_list(*FIELDS)[:2]
        )
        # As this batch has it: an earlier receipt may have moved the message on already.
        candidates = [self.messages.get(row[0]) or Message(*row) for row in rows]
        candidates = [m for m in candidates if m.status == Status.SENDING and not m.provider_message_id]
        return [self.add(candidates[0])] if len(rows) == 1 and candidates else []


FIELDS = (
    *("pk", "channel_id", "status", "provider_message_id", "delivered_at", "error_code", "error_message"),
    *("campaign_id", "to", "variant", "sent_at"),
)
COLUMNS = ("status", "provider_message_id", "delivered_at", "error_code", "error_message", "sent_at")
# On PostgreSQL the rows travel as one JSON text (json_to_recordset): psycopg's reading of thousands
# of placeholders cost more than the database's work, and so did its quoting of arrays, element by
# element in Python (up to 12 µs a timestamp); json.dumps and the server's JSON parser are C.
RECORDSET = (
    "id bigint, status text, provider_message_id text, delivered_at timestamptz, error_code text, "
    "error_message text, sent_at timestamptz, read_status text"
)


def _named(ours: set[int], theirs: set[str], channels: set[int]) -> list[tuple]:
    """The messages with our ids, or with the providers' ids on the batch's channels."""
    if connection.vendor != "postgresql":
        query = Q(pk__in=ours) | Q(channel_id__in=channels, provider_message_id__in=theirs) & ~Q(provider_message_id="")
        return list(OutboundMessage.objects.filter(query).values_list(*FIELDS))
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in ("id", *FIELDS[1:]))
    # Two index scans (the primary key, msg_provider_id), not one OR the planner reads as a scan.
    sql = (
        f"SELECT {columns} FROM {table} WHERE id = ANY(%s::bigint[]) UNION ALL "  # noqa: S608 - names are ours
        f"SELECT {columns} FROM {table} WHERE channel_id = ANY(%s::bigint[]) "
        "AND provider_message_id = ANY(%s::text[]) AND provider_message_id <> ''"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(ours), list(channels), list(theirs)])
        return cursor.fetchall()


def write(messages: list[Message], now: datetime) -> set[int]:
    """One UPDATE ... FROM (VALUES ...) per slice (on PostgreSQL one in all, FROM json_to_recordset);
    returns the ids it moved (those still as read)."""
    if connection.vendor == "postgresql":
        return _write_json(messages, now)
    written: set[int] = set()
    per_statement = max(1, min(1000, (connection.features.max_query_params or 65535) // (len(COLUMNS) + 3)))
    for start in range(0, len(messages), per_statement):
        written |= _write_slice(messages[start : start + per_statement], now)
    return written


def _assignments(values: str = "v.column{i}") -> str:
    meta, quote = OutboundMessage._meta, connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(meta.get_field(name).column)} = {values.format(i=i, name=name)}" for i, name in enumerate(COLUMNS, 2)
    )
    return assignments + f", {quote('updated_at')} = %s, {quote('claim_token')} = NULL"


def _write_json(messages: list[Message], now: datetime) -> set[int]:
    if not messages:
        return set()
    rows = [
        {
            "id": m.pk,
            "status": m.status,
            "provider_message_id": m.provider_message_id,
            "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
            "error_code": m.error_code,
            "error_message": m.error_message,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "read_status": m.read_status,
        }
        for m in messages
    ]
    sql = (
        f"UPDATE {connection.ops.quote_name(OutboundMessage._meta.db_table)} AS m SET {_assignments('v.{name}')} "  # noqa: S608 - names are ours, every value a parameter
        f"FROM json_to_recordset(%s::json) AS v({RECORDSET}) "
        "WHERE m.id = v.id AND m.status = v.read_status RETURNING m.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, json.dumps(rows)])
        return {pk for (pk,) in cursor.fetchall()}


def _write_slice(messages: list[Message], now: datetime) -> set[int]:
    if not messages:
        return set()
    meta = OutboundMessage._meta
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * (len(COLUMNS) + 2)) + ")"  # the id, the columns, the status read
    params: list[object] = []
    for message in messages:
        params.append(message.pk)
        params.extend(meta.get_field(name).get_db_prep_save(getattr(message, name), connection) for name in COLUMNS)
        params.append(message.read_status)
    assignments = _assignments()
    updated_at = meta.get_field("updated_at").get_db_prep_save(now, connection)
    status_read = f"v.column{len(COLUMNS) + 2}"
    sql = (
        f"UPDATE {quote(meta.db_table)} AS m SET {assignments} FROM (VALUES {', '.join([row] * len(messages))}) AS v "  # noqa: S608 - names are ours, every value a parameter
        f"WHERE m.{quote('id')} = v.column1 AND m.{quote('status')} = {status_read} RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [updated_at, *params])
        return {pk for (pk,) in cursor.fetchall()}


def record_events(messages: list[Message]) -> None:
    """The customers' event of each state the messages moved to (campaigns/events/), in this
    transaction: one read and one INSERT per state, in the order the states come."""
    states = sorted({state for message in messages for state in message.moved_to}, key=lambda s: RANK[Status(s)])
    for state in states:
        record_message_events([message.pk for message in messages if state in message.moved_to], state)


def tally(messages: list[Message], now: datetime) -> None:
    """The analytics tallies (campaigns/analytics/) of the messages this batch's UPDATE moved, each
    once from the state it was read in to where its receipts took it; the texts are read (for their
    segments) only of those a receipt showed sent for the first time."""
    first_sent = [m.pk for m in messages if first_taken(m.read_status, m.taken)]
    bodies = dict(OutboundMessage.objects.filter(pk__in=first_sent).values_list("pk", "body")) if first_sent else {}
    moves = [
        (
            *(m.pk, m.campaign_id, m.channel_id, m.to, m.variant),
            *(m.read_status, m.status, m.error_code),
            m.error_message,
            m.taken,
        )
        for m in messages
    ]
    tally_receipts(moves, now, bodies, {m.pk for m in messages if m.opted_out})


def replay(message: Message, result: ReceiptsApplied) -> None:
    """The send path moved this message between our read and our write: its receipts one by one."""
    for event in message.receipts:
        if apply_receipt(event):
            result.moved += 1

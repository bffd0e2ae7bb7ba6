"""What providers tell us after sending, as neutral events, and who applies them.

Provider webhooks and pollers read a provider's payload into these events; they never touch the
message tables, which belong to the campaigns app above this one (dependencies run campaigns ->
providers -> contacts). Campaigns registers its receipt book and its inbound book
(campaigns.conversations, which stores replies and acts on their keywords) here in its
AppConfig.ready.

Webhooks do not apply what they read: they ``take`` it (one INSERT of ReceivedEvent rows) and
answer, so a provider's callback is answered in milliseconds and is safe in the database from then
on. The receiving worker (campaigns.receiving) claims the waiting events in batches
(``claim_waiting``), applies them and ``forget``s them in the same transaction.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError

log = logging.getLogger(__name__)


class DeliveryState(enum.StrEnum):
    """The states a receipt can report; the same words as the message states that hold them."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


@dataclass(frozen=True)
class ReceiptEvent:
    """A provider's word on one message it took."""

    channel_id: int
    provider_message_id: str
    state: DeliveryState
    error_code: str = ""
    error_message: str = ""
    message_id: int | None = None  # our id, when the provider echoes it back (finds a message not yet recorded)
    recipient: str = ""  # the number it went to: finds a bulk message whose provider id is not saved yet
    at: datetime | None = None  # when the provider says it happened; None = when we heard
    # Set when the provider says the recipient unsubscribed (Twilio's 21610): their number goes on
    # the suppression list, for this reason, when the receipt is applied.
    opt_out_reason: str = ""


@dataclass(frozen=True)
class InboundMedia:
    """One attachment of an inbound message, as the provider hosts it."""

    url: str
    content_type: str = ""


@dataclass(frozen=True)
class InboundEvent:
    """A message from a recipient to one of our channels."""

    channel_id: int
    phone: str  # E.164
    text: str
    opt_out_word: str = ""  # what the provider decided itself (Twilio's OptOutType), which wins over the text
    provider_message_id: str = ""  # the provider's id for it: a retried callback is stored once
    media: tuple[InboundMedia, ...] = ()
    profile_name: str = ""  # the name the sender's WhatsApp shows, when the provider tells
    at: datetime | None = None  # when the provider says it was sent; None = when we heard
    # The provider's id of our message the person answered, when their app quoted it (a WhatsApp
    # reply: Twilio's OriginalRepliedMessageSid, Gupshup's context.gsId): beats guessing by time.
    replied_to_provider_id: str = ""


@dataclass(frozen=True)
class AwaitingReceipt:
    """A sent message a poller may ask its provider about."""

    message_id: int
    channel_id: int
    provider_message_id: str


class ReceiptBook(Protocol):
    """Where receipts are applied and pollers learn what to ask about (campaigns.pipeline.receipts)."""

    def apply(self, event: ReceiptEvent) -> bool:
        """Move the message forward; False if unknown, already there, or further on."""

    def awaiting(
        self, channel_ids: list[int], sent_after: datetime, sent_before: datetime, limit: int
    ) -> list[AwaitingReceipt]:
        """Sent messages without a final receipt, the least recently asked about first."""

    def still_waiting(self, message_ids: list[int]) -> None:
        """Note that these were asked about and nothing is final yet (others go first next time)."""

    def recorded(self, channel_id: int, provider_message_ids: list[str]) -> set[str]:
        """Which of these provider ids a message of the channel already carries (the rest are not
        recorded as sent yet)."""


class InboundBook(Protocol):
    """Where replies are stored and acted on (campaigns.conversations): keywords, inbox, opt-outs."""

    def receive(self, events: list[InboundEvent]) -> None:
        """Store each event once (by channel and provider id) and act on it."""


_book: ReceiptBook | None = None
_inbound_book: InboundBook | None = None


def register_receipt_book(book: ReceiptBook) -> None:
    global _book  # noqa: PLW0603 (one book per process, set once at start-up)
    _book = book


def receipt_book() -> ReceiptBook:
    if _book is None:
        raise ImproperlyConfigured("No receipt book is registered: is the campaigns app in INSTALLED_APPS?")
    return _book


def apply_receipt(event: ReceiptEvent) -> bool:
    return receipt_book().apply(event)


def register_inbound_book(book: InboundBook) -> None:
    global _inbound_book  # noqa: PLW0603 (one book per process, set once at start-up)
    _inbound_book = book


def inbound_book() -> InboundBook:
    if _inbound_book is None:
        raise ImproperlyConfigured("No inbound book is registered: is the campaigns app in INSTALLED_APPS?")
    return _inbound_book


def receive_inbound(events: list[InboundEvent]) -> None:
    """Hand replies to the inbound book: each stored once and acted on."""
    inbound_book().receive(events)


# Taking events (webhooks) and handing them to the receiving worker (campaigns.receiving).

Event = ReceiptEvent | InboundEvent
BACKLOG_COUNT_CAP = 1_000_000  # counting further would take longer than a metrics scrape may
SQLITE_LOCKED_ATTEMPTS = 20


def take(events: Iterable[Event], only_if: tuple[str, list] | None = None) -> int:
    """Keep these events for the receiving worker, in one INSERT; returns how many were taken.

    Once this returns (and the request's transaction, if any, commits) the events are durable:
    the webhook may answer 2xx. ``only_if``: an SQL condition and its parameters the INSERT
    checks in the same statement (webhook_channels.write_check, PostgreSQL only); when it does not
    hold nothing is written and webhook_channels.ChannelChanged is raised.
    """
    from django.db import connection
    from django.utils import timezone

    from providers.models import ReceivedEvent

    events = list(events)
    if events and connection.vendor == "postgresql":
        now = timezone.now()  # ReceivedEvent.received_at's default, without a model instance's signals
        _insert([(_kind(event), event.channel_id, event_record(event), now) for event in events], only_if)
        return len(events)
    rows = [
        ReceivedEvent(kind=_kind(event), channel_id=event.channel_id, event=event_record(event)) for event in events
    ]
    for attempt in range(SQLITE_LOCKED_ATTEMPTS):
        try:
            if rows:
                ReceivedEvent.objects.bulk_create(rows)
            break
        except OperationalError as error:
            # SQLite has one writer at a time, and an in-memory shared-cache database (the test
            # suite's live server) answers "locked" at once instead of waiting its busy timeout.
            if "locked" not in str(error) or attempt == SQLITE_LOCKED_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    return len(rows)


def _insert(rows: list[tuple], only_if: tuple[str, list] | None = None) -> None:
    """One INSERT on a plain cursor: a single statement needs no transaction of its own (bulk_create
    opens one, two more round trips to PostgreSQL for every callback) and no ORM to build it.
    ``rows``: (kind, channel id, the event's record, received at)."""
    from django.db import connection

    from messaging_site import plain_sql
    from providers.models import ReceivedEvent
    from providers.webhook_channels import ChannelChanged

    values = ", ".join(["(%s, %s, %s::jsonb, %s::timestamptz)"] * len(rows))
    params = []
    for kind, channel_id, record, received_at in rows:
        params.extend([kind, channel_id, json.dumps(record), received_at])
    table = connection.ops.quote_name(ReceivedEvent._meta.db_table)
    sql = f"INSERT INTO {table} (kind, channel_id, event, received_at) VALUES {values}"  # noqa: S608 - our name
    if only_if is None:
        plain_sql.execute(sql, params)
        return
    condition, condition_params = only_if
    columns = f"INSERT INTO {table} (kind, channel_id, event, received_at)"
    sql = f"{columns} SELECT * FROM (VALUES {values}) AS taken WHERE {condition}"  # noqa: S608 - our name
    if plain_sql.execute(sql, [*params, *condition_params], row_count=True) == 0:
        raise ChannelChanged


@dataclass(frozen=True)
class Received:
    """A taken event as the receiving worker claims it; ``event`` is None when the row cannot be read."""

    row_id: int
    event: Event | None


def claim_waiting(limit: int) -> list[Received]:
    """The oldest waiting events, in the order they came, deleted in the caller's transaction.

    Call inside transaction.atomic and apply them there: they are gone once it commits, and wait
    for the next worker again if it rolls back (a kill, an error). Rows another worker holds are
    skipped (SKIP LOCKED on PostgreSQL; SQLite has one writer at a time anyway). On PostgreSQL the
    claim and the delete are one statement, and the rows are read without the ORM: its per-row
    conversions cost more than the database's work.
    """
    from django.db import connection

    from providers.models import ReceivedEvent

    if connection.vendor != "postgresql":
        waiting = ReceivedEvent.objects.select_for_update(skip_locked=True).order_by("id")
        rows = list(waiting.values_list("id", "kind", "channel_id", "event")[:limit])
        _delete([row[0] for row in rows])
        return [Received(row_id, _read(row_id, kind, channel_id, data)) for row_id, kind, channel_id, data in rows]
    table = connection.ops.quote_name(ReceivedEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # By the locked rows' addresses (ctid): one index scan, not a second one per row.
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} ORDER BY id LIMIT %s "  # noqa: S608 - our name
            "FOR UPDATE SKIP LOCKED)) RETURNING id, kind, channel_id, event::text",
            [limit],
        )
        rows = sorted(cursor.fetchall())  # RETURNING keeps no order: receipts apply in the order they came
    return [Received(row_id, _read_json(row_id, kind, channel_id, data)) for row_id, kind, channel_id, data in rows]


def _delete(row_ids: list[int]) -> None:
    """Slices: old SQLite builds take at most 999 parameters a statement."""
    from providers.models import ReceivedEvent

    for start in range(0, len(row_ids), 900):
        ReceivedEvent.objects.filter(pk__in=row_ids[start : start + 900]).delete()  # no relations: one DELETE


@dataclass(frozen=True)
class Backlog:
    """Events taken and not applied yet."""

    waiting: int  # counted up to ``cap`` (see capped)
    oldest_at: datetime | None
    cap: int = BACKLOG_COUNT_CAP

    @property
    def capped(self) -> bool:
        return self.waiting >= self.cap


def backlog(cap: int = BACKLOG_COUNT_CAP) -> Backlog:
    """How many events wait (counted up to ``cap``) and since when: reads of the primary key's index."""
    from providers.models import ReceivedEvent

    waiting = ReceivedEvent.objects.order_by()[:cap].count()
    oldest = ReceivedEvent.objects.order_by("id").values_list("received_at", flat=True).first()
    return Backlog(waiting, oldest, cap)


def event_record(event: Event) -> dict:
    """The event as JSON for its row: fields left at their default are left out, the channel is a column."""
    record = {}
    for field in fields(event):
        value = getattr(event, field.name)
        if field.name == "channel_id" or value == field.default:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif field.name == "media":
            value = [{"url": item.url, "content_type": item.content_type} for item in value]
        record[field.name] = value  # DeliveryState is a str: stored as its word
    return record


def event_from_record(kind: str, channel_id: int, record: dict) -> Event:
    """The event a row holds (the inverse of event_record); unknown keys, from another version, are ignored."""
    cls = ReceiptEvent if kind == "receipt" else InboundEvent
    if kind not in ("receipt", "inbound"):
        raise ValueError(f"unknown kind {kind!r}")
    names = RECORD_FIELDS[cls]
    values = {name: value for name, value in record.items() if name in names}
    if "state" in values:
        values["state"] = DeliveryState(values["state"])
    if values.get("at"):
        values["at"] = datetime.fromisoformat(values["at"])
    if "media" in values:
        values["media"] = tuple(InboundMedia(**item) for item in values["media"])
    return cls(channel_id=channel_id, **values)


RECORD_FIELDS = {
    cls: frozenset(field.name for field in fields(cls)) - {"channel_id"} for cls in (ReceiptEvent, InboundEvent)
}


def _kind(event: Event) -> str:
    return "receipt" if isinstance(event, ReceiptEvent) else "inbound"


def _read(row_id: int, kind: str, channel_id: int, record: object) -> Event | None:
    try:
        if not isinstance(record, dict):
            raise TypeError("not an object")
        return event_from_record(kind, channel_id, record)
    except (TypeError, ValueError) as error:
        log.error("received event %s (%s on channel %s) cannot be read, dropped: %s", row_id, kind, channel_id, error)
        return None


def _read_json(row_id: int, kind: str, channel_id: int, text: str) -> Event | None:
    try:
        record = json.loads(text)
    except ValueError as error:
        log.error("received event %s (%s on channel %s) cannot be read, dropped: %s", row_id, kind, channel_id, error)
        return None
    return _read(row_id, kind, channel_id, record)

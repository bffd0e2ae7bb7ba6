"""A contact's timeline: every message to and from their number and their opt-out history, newest first.

Three streams, each read newest first from an index and cut at ``size + 1`` rows, are merged by time:

- messages we sent: those to the contact's number (the (to, id) index) and those linked to the
  contact (the (contact, id) index: a number changed since), one stream ordered by id;
- their replies, by number (the (phone, received_at) index), so replies outlive a deleted contact;
- opt-outs, opt-ins and consents: the suppression row of the number, the contact's opt-in records
  (each also says when the opt-out it lifted began) and the number's consent records (a keyword
  such as JOIN texted to join a list; the (number, texted_at) index).

A page is the newest ``size`` entries of the merge. "Older" carries one position per stream (keyset
pagination: the last id or time shown of each), so a page costs the same whether it is the first
or the thousandth, and no query reads more than ``size + 1`` rows of any table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from campaigns.models import InboundMessage, OutboundMessage
from contacts.models import Consent, Contact, OptInRecord, Suppression

SENT, RECEIVED, OPTED_OUT, OPTED_IN, CONSENT = "sent", "received", "opted_out", "opted_in", "consent"
OUTBOUND_FIELDS = [
    "id", "to", "body", "template", "media_urls", "status", "error_code", "error_message", "created_at",
    "sent_at", "delivered_at", "send_at", "campaign_id", "campaign__name", "campaign__kind", "channel__name",
]  # fmt: skip
INBOUND_FIELDS = [
    "id", "phone", "text", "media", "keyword", "received_at", "campaign_id", "campaign__name", "campaign__kind",
    "conversation_id", "channel__name", "in_reply_to_id",
]  # fmt: skip


class BadPosition(ValueError):
    """An "older" link's position that is not one this page wrote; the message names the field and value."""


@dataclass(frozen=True)
class Position:
    """Where each stream got to: older entries than these are still to show. None: from the newest."""

    sent: int | None = None  # the last outbound message id shown
    received: tuple[datetime, int] | None = None  # the last reply shown: its time and id
    history: datetime | None = None  # the time of the last history entry shown

    @classmethod
    def from_query(cls, query) -> Position:
        """Read ``?sent=…&received=…&history=…`` (as ``as_query`` writes them), validating each."""
        return cls(
            sent=_read_id(query.get("sent"), "sent"),
            received=_read_received(query.get("received")),
            history=_read_time(query.get("history"), "history"),
        )

    def as_query(self) -> dict[str, str]:
        found = {}
        if self.sent is not None:
            found["sent"] = str(self.sent)
        if self.received is not None:
            found["received"] = f"{self.received[0].isoformat()}~{self.received[1]}"
        if self.history is not None:
            found["history"] = self.history.isoformat()
        return found

    @property
    def is_newest(self) -> bool:
        return self.sent is None and self.received is None and self.history is None


@dataclass
class Entry:
    """One line of the timeline: a message either way, or a change of the number's subscription."""

    kind: str
    at: datetime
    key: int  # breaks ties between entries of one time (ids within a stream)
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def order(self) -> tuple:
        return (self.at, ORDER_OF_KIND[self.kind], self.key)


# At one instant: the reply, then what it did (opted out or in), then anything we sent after.
ORDER_OF_KIND = {RECEIVED: 0, OPTED_OUT: 1, OPTED_IN: 1, CONSENT: 1, SENT: 2}


@dataclass
class TimelinePage:
    entries: list[Entry]
    older: Position | None  # where the next (older) page starts; None when this is the oldest


def page(contact: Contact, position: Position | None = None, size: int = 20) -> TimelinePage:
    """The ``size`` newest entries of ``contact``'s timeline older than ``position``."""
    position = position or Position()
    streams = {
        SENT: sent_messages(contact, position.sent, size + 1),
        RECEIVED: replies(contact.phone, position.received, size + 1),
        "history": history(contact, position.history, size + 1),
    }
    merged = sorted((entry for entries in streams.values() for entry in entries), key=lambda e: e.order, reverse=True)
    shown = merged[:size]
    more = len(merged) > size or any(len(entries) > size for entries in streams.values())
    return TimelinePage(entries=shown, older=next_position(position, shown) if more else None)


def next_position(position: Position, shown: list[Entry]) -> Position:
    """Each stream moves past the last of its entries shown; a stream with none shown stays put."""
    sent, received, history_at = position.sent, position.received, position.history
    for entry in shown:  # newest first, so the last one seen of each stream is its oldest shown
        if entry.kind == SENT:
            sent = entry.key
        elif entry.kind == RECEIVED:
            received = (entry.at, entry.key)
        else:
            history_at = entry.at
    return Position(sent=sent, received=received, history=history_at)


def sent_messages(contact: Contact, before: int | None, limit: int) -> list[Entry]:
    """Our messages to the contact's number or linked to the contact, newest (highest id) first."""
    older = Q(pk__lt=before) if before is not None else Q()
    by_number = OutboundMessage.objects.filter(older, to=contact.phone)
    by_contact = OutboundMessage.objects.filter(older, contact=contact).exclude(to=contact.phone)
    rows = {}
    for queryset in (by_number, by_contact):  # each read from its own index, newest first
        for row in queryset.order_by("-pk").values(*OUTBOUND_FIELDS)[:limit]:
            rows[row["id"]] = row
    newest = sorted(rows.values(), key=lambda row: row["id"], reverse=True)[:limit]
    return [Entry(SENT, row["created_at"], row["id"], row) for row in newest]


def replies(phone: str, before: tuple[datetime, int] | None, limit: int) -> list[Entry]:
    """Messages from this number to any of our channels, newest first."""
    found = InboundMessage.objects.filter(phone=phone)
    if before is not None:
        at, pk = before
        found = found.filter(received_at__lte=at).filter(Q(received_at__lt=at) | Q(pk__lt=pk))
    rows = found.order_by("-received_at", "-pk").values(*INBOUND_FIELDS)[:limit]
    return [Entry(RECEIVED, row["received_at"], row["id"], row) for row in rows]


def history(contact: Contact, before: datetime | None, limit: int) -> list[Entry]:
    """Opt-outs, opt-ins and consents of the number, newest first (a handful for nearly everyone)."""
    entries = [*suppression_entries(contact.phone), *opt_in_entries(contact, before, limit)]
    entries.extend(consent_entries(contact.phone, before, limit))
    if before is not None:
        entries = [entry for entry in entries if entry.at < before]
    return sorted(entries, key=lambda e: e.order, reverse=True)[:limit]


def suppression_entries(phone: str) -> list[Entry]:
    """The number's opt-out now in force, if it is on the suppression list."""
    found = Suppression.objects.filter(number=phone).first()
    if found is None:
        return []
    about = {
        "source": found.get_source_display(),
        "reason": found.reason,
        "channel": found.channel,
        "by": found.by_label,
        "in_force": True,
    }
    return [Entry(OPTED_OUT, found.suppressed_at, found.pk, about)]


def opt_in_entries(contact: Contact, before: datetime | None, limit: int) -> list[Entry]:
    """Each opt-in record: the opt-in, and the opt-out it lifted (which began earlier)."""
    records = OptInRecord.objects.filter(contact=contact)
    if before is not None:
        records = records.filter(previous_opted_out_at__lt=before)  # its opt-out is older; its opt-in may be
    entries = []
    for record in records.order_by("-opted_in_at", "-pk")[:limit]:
        who = record.by_label or "the contact (reply)"
        about = {"source": record.get_source_display(), "reason": record.reason, "by": who}
        entries.append(Entry(OPTED_IN, record.opted_in_at, record.pk, about))
        lifted = {"reason": record.previous_opt_out_reason, "in_force": False, "lifted_at": record.opted_in_at}
        entries.append(Entry(OPTED_OUT, record.previous_opted_out_at, record.pk, lifted))
    return entries


def consent_entries(phone: str, before: datetime | None, limit: int) -> list[Entry]:
    """The number's consent records: which keyword it texted to join which list, and what came of it."""
    found = Consent.objects.filter(number=phone)
    if before is not None:
        found = found.filter(texted_at__lt=before)
    return [
        Entry(
            CONSENT,
            record.texted_at,
            record.pk,
            {
                "keyword": record.keyword,
                "list_name": record.list_name,
                "channel": record.channel,
                "outcome": record.outcome,
                "confirmed_at": record.confirmed_at,
                "double_opt_in": record.double_opt_in,
                "consent_id": record.pk,
            },
        )
        for record in found.order_by("-texted_at", "-pk")[:limit]
    ]


def _read_id(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 18:
        raise BadPosition(f"{name}: {value!r} is not a message id.")
    return int(value)


def _read_time(value: str | None, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadPosition(f"{name}: {value!r} is not a time with its offset, as the “Older” link writes it.")
    return moment


def _read_received(value: str | None) -> tuple[datetime, int] | None:
    if value in (None, ""):
        return None
    at, _, pk = value.rpartition("~")
    if not at:
        raise BadPosition(f"received: {value!r} is not a reply's time and id, as the “Older” link writes it.")
    return _read_time(at, "received"), _read_id(pk, "received")

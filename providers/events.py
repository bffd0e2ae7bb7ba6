"""What providers tell us after sending, as neutral events, and who applies them.

Provider webhooks and pollers read a provider's payload into these events; they never touch the
message tables, which belong to the campaigns app above this one (dependencies run campaigns ->
providers -> contacts). Campaigns registers its receipt book here in its AppConfig.ready.
Inbound replies go the same way: campaigns registers its inbound book (campaigns.conversations),
which stores them and acts on their keywords.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured


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

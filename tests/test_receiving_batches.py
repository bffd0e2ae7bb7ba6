"""Receipts applied a batch at a time end exactly as they would one at a time (campaigns/receiving/).

Providers send receipts out of order and more than once; a batch plays each message's receipts in
arrival order on what it read, so any mix gives the same messages as apply_receipt one by one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.events.signing import new_secret
from campaigns.models import OutboundMessage, WebhookEndpoint, WebhookEvent
from campaigns.pipeline.counters import COUNTERS
from campaigns.pipeline.queueing import connection
from campaigns.pipeline.receipts import apply_receipt
from campaigns.receiving import apply_batch, backlog
from campaigns.receiving.receipts import apply_receipts
from contacts.models import Contact
from providers.events import DeliveryState, InboundEvent, ReceiptEvent, event_from_record, event_record, take
from providers.models import Channel, ReceivedEvent

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
STARTS = [Status.QUEUED, Status.SENDING, Status.SENT, Status.DELIVERED, Status.FAILED, Status.UNKNOWN]
FIELDS = ("status", "provider_message_id", "delivered_at", "error_code", "error_message", "claim_token", "sent_at")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_messages(channel: Channel, rng: random.Random, count: int) -> list[OutboundMessage]:
    return [
        OutboundMessage.objects.create(
            channel=channel,
            to=f"+4479111{i:05d}",
            status=rng.choice(STARTS),
            provider_message_id=f"P{i}" if rng.random() < 0.8 else "",
        )
        for i in range(count)
    ]


def random_receipts(channel: Channel, messages: list[OutboundMessage], rng: random.Random, n: int) -> list:
    events = []
    for _ in range(n):
        message = rng.choice(messages)
        state = rng.choice(list(DeliveryState))
        how = rng.random()
        events.append(
            ReceiptEvent(
                channel_id=channel.pk,
                # Mostly the provider's id; sometimes our id (Twilio's ?m=), sometimes an unknown id.
                provider_message_id=f"P{messages.index(message)}" if how < 0.9 else "Pnobody",
                state=state,
                error_code=f"E{rng.randint(1, 3)}" if state in ("failed", "undelivered") else "",
                error_message=rng.choice(["", "Unreachable", "Blocked"]),
                message_id=message.pk if how < 0.25 else None,
                at=T0 + timedelta(seconds=rng.randint(0, 1000)),
            )
        )
    return events


def snapshot(messages: list[OutboundMessage]) -> list[tuple]:
    rows = OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk")
    return [tuple(row) for row in rows.values_list(*FIELDS)]


def restore(messages: list[OutboundMessage]) -> None:
    for message in messages:
        OutboundMessage.objects.filter(pk=message.pk).update(
            **{name: getattr(message, name) for name in FIELDS}, updated_at=message.updated_at
        )


@pytest.mark.parametrize("seed", range(25))
def test_a_batch_ends_as_one_receipt_at_a_time_would(channel, seed):
    rng = random.Random(seed)
    messages = make_messages(channel, rng, 8)
    events = random_receipts(channel, messages, rng, 40)

    for event in events:
        apply_receipt(event)
    one_by_one = snapshot(messages)
    restore(messages)
    applied = apply_receipts(events)

    assert snapshot(messages) == one_by_one
    assert applied.moved == sum(applied.counts[channel.pk].values())


def test_a_batch_finds_the_one_message_in_flight_to_a_number_as_one_by_one_does(channel):
    in_flight = OutboundMessage.objects.create(channel=channel, to="+447911123456", status=Status.SENDING)
    OutboundMessage.objects.create(channel=channel, to="+447911123999", status=Status.SENDING)
    events = [
        ReceiptEvent(channel.pk, "SMbulk1", DeliveryState.SENT, recipient="+447911123456"),
        ReceiptEvent(channel.pk, "SMbulk1", DeliveryState.DELIVERED, at=T0),  # now found by its id
    ]
    applied = apply_receipts(events)
    in_flight.refresh_from_db()
    assert (in_flight.status, in_flight.provider_message_id, applied.moved) == (Status.DELIVERED, "SMbulk1", 2)


def test_a_message_the_send_path_moved_meanwhile_gets_its_receipts_one_by_one(channel, monkeypatch):
    """The UPDATE only takes messages still as the batch read them; the others are replayed."""
    from campaigns.receiving import receipts

    message = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", status=Status.SENT, provider_message_id="P1"
    )
    real_write = receipts.write

    def racing_write(moved, now):
        OutboundMessage.objects.filter(pk=message.pk).update(status=Status.DELIVERED)  # a receipt got there first
        return real_write(moved, now)

    monkeypatch.setattr(receipts, "write", racing_write)
    applied = apply_receipts([ReceiptEvent(channel.pk, "P1", DeliveryState.READ, at=T0)])
    message.refresh_from_db()
    assert (message.status, applied.moved) == (Status.READ, 1)


def test_an_event_keeps_every_field_through_its_row(channel):
    receipt = ReceiptEvent(
        channel.pk, "SM1", DeliveryState.UNDELIVERED, "30003", "Unreachable", 42, "+447911123456", T0, "why"
    )
    inbound = InboundEvent(channel.pk, "+447911123456", "STOP", "STOP")
    for kind, event in (("receipt", receipt), ("inbound", inbound)):
        assert event_from_record(kind, channel.pk, event_record(event)) == event


def test_a_batch_applies_receipts_and_replies_counts_once_and_deletes_its_rows(channel):
    connection().delete(COUNTERS)
    message = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", status=Status.SENT, provider_message_id="P1"
    )
    taken = take(
        [
            ReceiptEvent(channel.pk, "P1", DeliveryState.DELIVERED),
            ReceiptEvent(channel.pk, "P1", DeliveryState.DELIVERED),  # a provider's retry
            ReceiptEvent(channel.pk, "Pnobody", DeliveryState.DELIVERED),  # unknown: dropped
            InboundEvent(channel.pk, "+447911123999", "STOP"),
        ]
    )
    assert (taken, backlog().waiting) == (4, 4)

    batch = apply_batch()
    message.refresh_from_db()
    assert (batch.rows, batch.receipts_moved, batch.unknown, batch.inbound) == (4, 1, 1, 1)
    assert message.status == Status.DELIVERED
    assert Contact.objects.get(phone="+447911123999").is_opted_out
    assert connection().hget(COUNTERS, f"{channel.pk}:delivered") == b"1"
    assert not ReceivedEvent.objects.exists()
    assert (backlog().waiting, backlog().oldest_at) == (0, None)
    assert apply_batch().rows == 0


def test_a_row_that_cannot_be_read_is_dropped_not_retried_forever(channel, caplog):
    ReceivedEvent.objects.create(kind="receipt", channel_id=channel.pk, event={"state": "teleported"})
    ReceivedEvent.objects.create(kind="gossip", channel_id=channel.pk, event={})
    take([InboundEvent(channel.pk, "+447911123999", "STOP")])
    batch = apply_batch()
    assert (batch.rows, batch.dropped, batch.inbound) == (3, 2, 1)
    assert not ReceivedEvent.objects.exists()
    assert "cannot be read" in caplog.text


def test_a_failing_reply_is_dropped_alone_and_the_rest_of_the_batch_applied(channel, monkeypatch, caplog):
    from campaigns.conversations.book import ConversationBook

    real = ConversationBook.receive

    def fussy(self, events):
        if any(e.text == "boom" for e in events):
            raise ValueError("cannot store this one")
        real(self, events)

    monkeypatch.setattr(ConversationBook, "receive", fussy)
    take([InboundEvent(channel.pk, "+447911123998", "boom"), InboundEvent(channel.pk, "+447911123999", "STOP")])
    batch = apply_batch()
    assert (batch.rows, batch.dropped, batch.inbound) == (2, 1, 1)
    assert Contact.objects.get(phone="+447911123999").is_opted_out
    assert not ReceivedEvent.objects.exists()


def test_a_batch_records_the_customers_event_of_each_state_a_message_moved_to(channel):
    WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hooks", secret=new_secret(), event_types=["message.sent", "message.delivered"]
    )
    message = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", status=Status.SENDING, provider_message_id="P1"
    )
    take([ReceiptEvent(channel.pk, "P1", DeliveryState.SENT), ReceiptEvent(channel.pk, "P1", DeliveryState.DELIVERED)])
    take([ReceiptEvent(channel.pk, "P1", DeliveryState.DELIVERED)])  # a replay tells nobody again
    apply_batch()
    told = WebhookEvent.objects.order_by("id").values_list("type", "payload__data__message_id")
    assert list(told) == [("message.sent", message.pk), ("message.delivered", message.pk)]

"""Storing replies (campaigns.conversations.store): how many a second the inbound book takes.

Two batch sizes: 1,000 (what the receiving worker, campaigns.receiving, hands over from a backlog)
and 100 (replies trickling in, a second's worth at a time). The replies are a campaign's: a third from numbers we
have as contacts, half answering a message sent in the window (linked to it and its campaign), one
in fifty a STOP, one in twenty a provider's retry of an earlier reply. Targets on the 2-core
reference machine: 1,000 replies a second in batches of 1,000 (the rate the return path's bench
offers callbacks at), 500 in batches of 100. BENCH_INBOUND_REPLIES changes the count (default 20,000).
"""

from __future__ import annotations

import os
import time

from bench.harness import prepare_django

REPLIES = int(os.environ.get("BENCH_INBOUND_REPLIES", "20000"))
SMALL = max(REPLIES // 10, 100)
BATCH, SMALL_BATCH = 1000, 100
TARGET_BATCHED = 1000.0
TARGET_SMALL = 500.0
PREFIX = "+1629"  # a US area code kept for this bench's numbers


def numbers(count: int, offset: int) -> list[str]:
    return [f"{PREFIX}{2_000_000 + offset + n}" for n in range(count)]


def events_for(channel_id: int, phones: list[str], tag: str) -> list:
    from providers.events import InboundEvent

    events = []
    for n, phone in enumerate(phones):
        sid = f"{tag}{n - 1 if n % 20 == 19 else n}"  # every 20th a retry of the one before
        text = "STOP" if n % 50 == 0 else "What time does the sale start?"
        events.append(InboundEvent(channel_id, phone, text, provider_message_id=sid, profile_name="Bench"))
    return events


def prepare(channel, phones: list[str], campaign) -> None:
    from django.utils import timezone

    from campaigns.models import OutboundMessage
    from contacts.models import Contact

    Contact.objects.bulk_create([Contact(phone=p) for p in phones[::3]], ignore_conflicts=True)
    now = timezone.now()
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(channel=channel, campaign=campaign, to=p, recipient_key=p, status="delivered", sent_at=now)
            for p in phones[::2]
        ],
        batch_size=5000,
    )


def timed(receive, batches: list[list]) -> float:
    started = time.monotonic()
    for batch in batches:
        receive(batch)
    return time.monotonic() - started


def run() -> list[dict]:
    prepare_django()
    from django.db import connection

    from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage
    from contacts.models import Contact, Suppression
    from providers.events import receive_inbound
    from providers.models import Channel

    channel = Channel.objects.create(name=f"Bench replies {time.time_ns()}", provider="sandbox", sender="+15005550006")
    campaign = Campaign.objects.create(name="Bench replies", channel=channel)
    batched, small = numbers(REPLIES, 0), numbers(SMALL, REPLIES)
    prepare(channel, batched + small, campaign)
    events = events_for(channel.pk, batched, "B")
    batched_seconds = timed(receive_inbound, [events[i : i + BATCH] for i in range(0, len(events), BATCH)])
    trickle = events_for(channel.pk, small, "S")
    small_seconds = timed(receive_inbound, [trickle[i : i + SMALL_BATCH] for i in range(0, len(trickle), SMALL_BATCH)])
    stored = InboundMessage.objects.filter(channel=channel).count()
    linked = InboundMessage.objects.filter(channel=channel, campaign=campaign).count()
    expected = (REPLIES + SMALL) - (REPLIES // 20 + SMALL // 20)
    note = f"{connection.vendor}; {stored:,} stored (expected {expected:,}), {linked:,} linked to the campaign"

    InboundMessage.objects.filter(channel=channel).delete()
    Conversation.objects.filter(channel=channel).delete()
    OutboundMessage.objects.filter(channel=channel).delete()
    campaign.delete()
    channel.delete()
    Contact.objects.filter(phone__startswith=PREFIX).delete()
    Suppression.objects.filter(number__startswith=PREFIX).delete()
    batched_rate, small_rate = len(events) / batched_seconds, len(trickle) / small_seconds
    return [
        {
            "name": f"replies stored in batches of {BATCH:,} ({len(events):,})",
            "figure": round(batched_rate),
            "unit": "replies/s",
            "target": TARGET_BATCHED,
            "ratio": round(batched_rate / TARGET_BATCHED, 2),
            "note": note,
        },
        {
            "name": f"replies stored in batches of {SMALL_BATCH} ({len(trickle):,})",
            "figure": round(small_rate),
            "unit": "replies/s",
            "target": TARGET_SMALL,
            "ratio": round(small_rate / TARGET_SMALL, 2),
            "note": "replies trickling in",
        },
    ]

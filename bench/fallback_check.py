"""The SMS fallback's periodic "not delivered in time" check at a million WhatsApp messages.

A running WhatsApp campaign with an SMS fallback after 30 minutes has 1,000,000 messages
(BENCH_FALLBACK_MESSAGES to change): most delivered, 2% still only ``sent`` long ago (late: each
gets its SMS), the rest sent in the last minutes. The check (campaigns/whatsapp/fallback.py,
send_late_fallbacks, run by rqcron every FALLBACK_CHECK_SECONDS) is timed three ways: the first
run, which makes the 20,000 fallbacks; the next run, with nothing new (what every minute costs);
and a run after the table has grown by more late messages. Target: the idle run under 50 ms, so a
check every minute is nothing beside the workers; the first run is reported (it writes the rows).
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta

from bench.harness import prepare_django

MESSAGES = int(os.environ.get("BENCH_FALLBACK_MESSAGES", "1000000"))
TARGET_SECONDS = 0.05
LATE_EVERY = 50  # one message in 50 is still only "sent" after the time


def fill(campaign, channel, count: int, now) -> int:
    from campaigns.models import OutboundMessage

    late, batch = 0, []
    for n in range(count):
        to = f"+1556{n:07d}"
        is_late = n % LATE_EVERY == 0
        late += is_late
        batch.append(
            OutboundMessage(
                campaign_id=campaign.pk,
                channel_id=channel.pk,
                to=to,
                recipient_key=to,
                status="sent" if is_late or n % 7 == 0 else "delivered",
                sent_at=now - timedelta(hours=2) if is_late else now - timedelta(minutes=n % 20),
                provider_message_id=f"gs-{n}",
            )
        )
        if len(batch) == 10_000:
            OutboundMessage.objects.bulk_create(batch)
            batch = []
    OutboundMessage.objects.bulk_create(batch)
    return late


def measure(count: int = MESSAGES) -> dict:
    prepare_django()
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign, OutboundMessage
    from campaigns.whatsapp.fallback import send_late_fallbacks
    from providers.models import Channel

    tag = secrets.token_hex(3)
    whatsapp = Channel.objects.create(name=f"Bench fallback WA {tag}", provider="gswa", rate_limit=1000)
    sms = Channel.objects.create(name=f"Bench fallback SMS {tag}", provider="sandbox", rate_limit=1000)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=f"Bench fallback {tag}",
        channel=whatsapp,
        text="Hi",
        status="running",
        started_at=now - timedelta(hours=3),
        fallback_channel=sms,
        fallback_text="Hi {{ first_name }}",
        fallback_after=30,
    )
    try:
        started = time.monotonic()
        late = fill(campaign, whatsapp, count, now)
        filled = time.monotonic() - started
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE campaigns_outboundmessage")
        started = time.monotonic()
        first = send_late_fallbacks()
        first_seconds = time.monotonic() - started
        idle = []
        for _ in range(5):
            started = time.monotonic()
            again = send_late_fallbacks()
            idle.append(time.monotonic() - started)
        made = OutboundMessage.objects.filter(fallback_campaign=campaign).count()
        assert made == late and again["fallbacks"] == 0, (made, late, again)
    finally:
        OutboundMessage.objects.filter(fallback_campaign__in=[campaign]).delete()
        OutboundMessage.objects.filter(channel=whatsapp).delete()
        Campaign.objects.filter(pk=campaign.pk).delete()
        whatsapp.delete()
        sms.delete()
    return {
        "first": first_seconds,
        "made": first["fallbacks"],
        "idle": sorted(idle),
        "filled": filled,
        "database": connection.vendor,
        "count": count,
    }


def run() -> list[dict]:
    result = measure()
    idle = result["idle"][len(result["idle"]) // 2]
    return [
        {
            "name": f"fallback check with nothing new at {result['count']:,} messages ({result['database']})",
            "figure": round(idle * 1000, 1),
            "unit": "ms",
            "target": round(TARGET_SECONDS * 1000),
            "ratio": TARGET_SECONDS / max(idle, 0.0001),
            "note": f"median of 5; the first run made {result['made']:,} fallbacks in "
            f"{result['first'] * 1000:.0f} ms; rows made in {result['filled']:.0f} s",
        }
    ]

"""WhatsApp's 24-hour rule, checked before anything is sent.

A business may send free-form WhatsApp (text or media) only within 24 hours of the contact's last
message to that sender; outside it only an approved template. Twilio fails such a message with
63016 and Gupshup with 1004-1008, after the fact (campaigns/whatsapp/failures.py words those); this
module says so up front, from the conversations' ``last_inbound_at``. The inbox's reply form, the
API and the staff pages use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from campaigns.models import Conversation
from providers.models import Channel
from providers.registry import provider_class

FREE_TEXT_WINDOW = timedelta(hours=24)
LOOKUP_BATCH = 2_000  # numbers per query when a bulk request names thousands
RULE = (
    "free-form WhatsApp (text or media) may only go within 24 hours of the contact's last message to this "
    "channel; outside that window send an approved template (template.id)"
)


def keeps_window(channel: Channel) -> bool:
    """WhatsApp channels: only a template may start a conversation there."""
    return bool(getattr(provider_class(channel.provider), "campaign_needs_template", False))


def open_numbers(channel: Channel, numbers: Iterable[str], now: datetime | None = None) -> set[str]:
    """Those of ``numbers`` who wrote to ``channel`` within the last 24 hours."""
    since = (now or timezone.now()) - FREE_TEXT_WINDOW
    wanted = list(dict.fromkeys(numbers))
    found: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_BATCH):
        found.update(
            Conversation.objects.filter(
                channel=channel, phone__in=wanted[start : start + LOOKUP_BATCH], last_inbound_at__gte=since
            ).values_list("phone", flat=True)
        )
    return found


def free_text_refusal(channel: Channel, number: str, field: str = "text", now: datetime | None = None) -> str:
    """Why free-form WhatsApp to ``number`` is refused now (field, number and rule named); empty if it may go."""
    if not keeps_window(channel):
        return ""
    last = Conversation.objects.filter(channel=channel, phone=number).values_list("last_inbound_at", flat=True).first()
    if last is not None and last >= (now or timezone.now()) - FREE_TEXT_WINDOW:
        return ""
    when = "has never written to it" if last is None else f"last wrote at {last:%Y-%m-%d %H:%M} UTC"
    return f"{field}: {RULE}, and {number} {when}."


def closed_numbers(channel: Channel, numbers: list[str], now: datetime | None = None) -> list[str]:
    """Those of ``numbers`` outside the window, in order (none on a channel without the rule)."""
    if not keeps_window(channel):
        return []
    reachable = open_numbers(channel, numbers, now)
    return [number for number in dict.fromkeys(numbers) if number not in reachable]

"""A campaign's progress for the page that watches it: counts by state, failures by reason, pace.

Counts are one GROUP BY status over the (campaign, status) index, so they stay fast at a million
messages a campaign; failures read only the failed rows of that index. Pages listing many
campaigns show their tallies (counts_for; campaigns/reports/tallies.py keeps them fresh).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from campaigns import analytics
from campaigns.models import Campaign, OutboundMessage
from campaigns.models.staff import zone_label
from campaigns.pipeline.sending import next_opening
from campaigns.reports import tallies
from campaigns.whatsapp.failures import failure_words

Status = OutboundMessage.Status
# The bar's parts, in the order a message moves through them; every message state falls in one.
BAR = {
    "queued": (Status.QUEUED, Status.SENDING),
    # A campaign's scheduled messages are those outside their recipients' sending hours, for now.
    "waiting": (Status.SCHEDULED,),
    # An A/B test's rest, waiting for its winner (scheduled with no time; counted apart in snapshot()).
    "winner": (),
    "sent": (Status.SENT,),
    "delivered": (Status.DELIVERED, Status.READ),
    "failed": (Status.FAILED, Status.UNDELIVERED),
    "unknown": (Status.UNKNOWN,),
    "cancelled": (Status.CANCELLED,),
}
LABELS = {
    "queued": "Queued",
    "waiting": "Waiting for sending hours",
    "winner": "Waiting for the A/B winner",
    "sent": "Sent, awaiting receipt",  # the funnel's Sent counts every message a provider took
    "delivered": "Delivered",
    "failed": "Failed",
    "unknown": "Unknown",
    "cancelled": "Cancelled",
}
UNDONE = ("queued", "waiting", "winner")  # the parts still to go
PART_OF = {status: part for part, statuses in BAR.items() for status in statuses}
FAILED = (Status.FAILED, Status.UNDELIVERED, Status.UNKNOWN)
TOP_REASONS = 10


def bar(counts: dict[str, int]) -> dict[str, int]:
    """Message counts by state folded into the bar's parts."""
    parts = dict.fromkeys(BAR, 0)
    for status, number in counts.items():
        parts[PART_OF.get(status, "unknown")] += number
    return parts


def counts_for(campaigns: list[Campaign]) -> dict[int, dict[str, int] | None]:
    """Bar parts for a page of campaigns from their tallies (campaigns/reports/tallies.py); None while being counted."""
    counts = tallies.status_counts(campaigns)
    return {pk: None if found is None else bar(found) for pk, found in counts.items()}


def delivery_rate(parts: dict[str, int]) -> float | None:
    """Delivered among those with a final answer or sent; None before anything went."""
    went = parts["sent"] + parts["delivered"] + parts["failed"] + parts["unknown"]
    return parts["delivered"] / went if went else None


def delivery_text(parts: dict[str, int]) -> str:
    """The delivery rate as staff read it: nothing before anything went, and "awaiting receipts"
    while sent messages have no receipt yet and none was delivered (not a 0% no receipt could
    have earned yet)."""
    rate = delivery_rate(parts)
    if rate is None:
        return "—"
    if not parts["delivered"] and parts["sent"]:
        return "awaiting receipts"
    return f"{rate:.0%}"


def failures(campaign: Campaign, parts: dict[str, int] | None = None) -> list[dict[str, object]]:
    """Failed, undelivered and unknown messages grouped by reason, most common first: from the
    analytics tallies (campaigns/analytics/: failures by error code, kept as outcomes arrive), read
    in a few rows however many failed; a campaign without them (sent before the tallies were kept,
    or with no failure) is read from its failed rows."""
    provider = campaign.channel.provider
    counted = analytics.failures(campaign.pk, raw=True)
    if not counted:
        return scanned_failures(campaign)
    found = [
        {
            "status": "failed",
            "code": row["code"],
            "reason": failure_words(provider, row["code"], row["meaning"])
            or row["meaning"]
            or row["code"]
            or NO_REASON,
            "count": row["count"],
        }
        for row in counted
    ]
    if parts and parts["unknown"]:
        found.append({"status": "unknown", "code": "", "reason": UNKNOWN_REASON, "count": parts["unknown"]})
    return sorted(found, key=lambda row: -row["count"])[:TOP_REASONS]


NO_REASON = "No reason given"
UNKNOWN_REASON = "No answer from the provider: the outcome is unknown (see Unknown outcomes)."


def scanned_failures(campaign: Campaign) -> list[dict[str, object]]:
    rows = (
        OutboundMessage.objects.filter(campaign=campaign, status__in=FAILED)
        .order_by()
        .values_list("status", "error_code", "error_message")
        .annotate(n=Count("*"))
        .order_by("-n")[:TOP_REASONS]
    )
    provider = campaign.channel.provider
    return [
        {
            "status": status,
            "code": code,
            "reason": failure_words(provider, code, message) or message or code or NO_REASON,
            "count": n,
        }
        for status, code, message, n in rows
    ]


def snapshot(campaign: Campaign, now: datetime | None = None) -> dict[str, object]:
    """Everything the live progress panel shows, as JSON-ready values."""
    now = now or timezone.now()
    counts = dict(
        OutboundMessage.objects.filter(campaign=campaign).order_by().values_list("status").annotate(n=Count("*"))
    )
    parts = bar(counts)
    if campaign.winner_due_at is not None and parts["waiting"]:  # an A/B test's rest is not waiting for hours
        parts["winner"] = waiting_for_winner(campaign)
        parts["waiting"] -= parts["winner"]
    total = sum(parts.values())
    done = total - undone(parts)
    average = _average_rate(campaign, parts, now)
    remaining = parts["queued"]
    rate = delivery_rate(parts)
    opening = next_opening(campaign.pk) if parts["waiting"] else None
    return {
        "id": campaign.pk,
        "status": campaign.status,
        "status_label": campaign.get_status_display(),
        "status_reason": campaign.status_reason,
        "total": total,
        "done": done,
        "parts": parts,
        "delivery_rate": None if rate is None else round(rate, 4),
        "delivery_text": delivery_text(parts),
        "rate_per_second": round(average, 2) if average else 0.0,
        "channel_limit_per_second": campaign.channel.rate_limit,
        "seconds_left": round(remaining / average) if average and remaining else None,
        "waiting": parts["waiting"],
        "waiting_opens_at": opening.isoformat() if opening else None,
        "waiting_opens_text": shown_local(opening, now) if opening else "",
        "failures": failures(campaign, parts),
        "messages_url": reverse("admin:campaigns_outboundmessage_changelist") + f"?campaign__id__exact={campaign.pk}",
        "fanned_out": campaign.fanned_out_at is not None,
        "fallbacks": fallbacks(campaign),
        "now": now.isoformat(),
    }


def waiting_for_winner(campaign: Campaign) -> int:
    """An A/B test's rest: scheduled with no time and no variant (the msg_campaign_waiting index)."""
    return OutboundMessage.objects.filter(
        campaign=campaign, status=Status.SCHEDULED, send_at__isnull=True, variant__isnull=True
    ).count()


def fallbacks(campaign: Campaign) -> dict[str, object] | None:
    """The campaign's SMS fallbacks (campaigns/whatsapp/fallback.py), counted apart from its WhatsApp
    messages, by state (one GROUP BY on msg_fallbacks); their cost is shown once, under the
    analytics' Actual cost (campaigns/analytics/reading.fallbacks). None without a fallback."""
    if campaign.fallback_channel_id is None:
        return None
    counts = dict(
        OutboundMessage.objects.filter(fallback_campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    parts = bar(counts)
    total = sum(parts.values())
    text = f"SMS fallbacks: {total:,}"
    if total:
        text += f" ({parts['delivered']:,} delivered, {parts['failed']:,} failed, {undone(parts):,} to go)"
    return {"total": total, "parts": parts, "text": text}


def undone(parts: dict[str, int]) -> int:
    """Messages still to go: queued, or waiting for their recipients' sending hours."""
    return sum(parts[part] for part in UNDONE)


def shown_local(moment: datetime, now: datetime) -> str:
    """'09:00, Europe/London (GMT...)' today, else 'Tue 24 Nov 09:00, ...': in the staff member's zone, named."""
    local = timezone.localtime(moment)
    day = "" if local.date() == timezone.localtime(now).date() else f"{local:%a %d %b} "
    return f"{day}{local:%H:%M}, {zone_label(at=moment)}"


def _average_rate(campaign: Campaign, parts: dict[str, int], now: datetime) -> float:
    """Messages handed to the provider per second since the start (the page refines it between polls)."""
    if campaign.started_at is None:
        return 0.0
    handled = parts["sent"] + parts["delivered"] + parts["failed"] + parts["unknown"]
    seconds = (now - campaign.started_at).total_seconds()
    return handled / seconds if seconds > 0 and handled else 0.0

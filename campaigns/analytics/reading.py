"""The tallies read back: a campaign's funnel, its chart, failures by error code, results by country
and actual cost; the dashboard's daily charts and the comparison of recent campaigns.

Each reads a few hundred tally rows at most (a campaign's 5-minute buckets, a month's hours), never
the message rows, so a page stays fast at millions of messages.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from django.db.models import Count, Sum
from django.utils import timezone
from phonenumbers import geocoder

from campaigns.content.segments import count_segments
from campaigns.models import Campaign, CampaignBreakdown, CampaignBucket, HourlyOutcomes, OutboundMessage
from campaigns.models.analytics import COUNTERS
from campaigns.whatsapp.failures import failure_words
from providers.models import Channel

STEPS = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}
STEP_NAMES = {"5min": "5 minutes", "hour": "hour", "day": "day"}
MAX_POINTS = 2000  # a chart with more steps than this is drawn by a coarser step
TOP_FAILURES = 10
TOP_COUNTRIES = 20
DELIVERED = "of those delivered"
SERIES = ("sent", "delivered", "failed", "clicks", "replies")


def totals(campaign_id: int) -> dict[str, int]:
    """A campaign's counters added up over its buckets."""
    found = CampaignBucket.objects.filter(campaign_id=campaign_id).aggregate(**{c: Sum(c) for c in COUNTERS})
    return {name: int(found[name] or 0) for name in COUNTERS}


# The progress panel's "Sent, awaiting receipt" are those with no receipt yet; the funnel's Sent are all.
SENT_HELP = "all the provider took: delivered, failed or awaiting receipt"


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Step:
    """One step of the funnel: how many, and their share of the step it is measured against."""

    key: str
    label: str
    number: int
    rate: float | None
    of: str  # what the rate is a share of, in words
    help: str = ""  # what the step counts, where its name alone could be read otherwise

    @property
    def rate_text(self) -> str:
        return "—" if self.rate is None else f"{self.rate:.1%}"


def funnel(campaign: Campaign, counts: dict[str, int]) -> list[Step]:
    """audience → sent → delivered → clicked (unique, total) → replied → opted out, each with its rate."""
    audience = campaign.recipient_count
    sent, delivered = counts["sent"], counts["delivered"]
    return [
        Step("audience", "Audience", audience, None, ""),
        Step("sent", "Sent", sent, rate(sent, audience), "of the audience", SENT_HELP),
        Step("delivered", "Delivered", delivered, rate(delivered, sent), "of those sent"),
        Step(
            "clicked",
            "Clicked",
            counts["unique_clicks"],
            rate(counts["unique_clicks"], delivered),
            "of those delivered",
        ),
        Step("clicks", "Clicks in all", counts["clicks"], rate(counts["clicks"], delivered), "per message delivered"),
        Step("replied", "Replied", counts["repliers"], rate(counts["repliers"], delivered), DELIVERED),
        Step("opted_out", "Opted out", counts["opt_outs"], rate(counts["opt_outs"], delivered), DELIVERED),
    ]


def choose_step(first: datetime, last: datetime, asked: str = "") -> str:
    """The step asked for, unless it would draw more than MAX_POINTS; else the finest that fits."""
    span = last - first
    names = ([asked] if asked in STEPS else []) + list(STEPS)
    return next(name for name in names if span / STEPS[name] <= MAX_POINTS)


def series(campaign_id: int, asked_step: str = "", zone=None) -> dict[str, object]:
    """The chart: sent, delivered, failed, clicks and replies per step, labelled in the viewer's zone."""
    zone = zone or timezone.get_current_timezone()
    rows = (
        CampaignBucket.objects.filter(campaign_id=campaign_id)
        .values("start")
        .annotate(**{name: Sum(name) for name in SERIES})
        .order_by("start")
    )
    rows = list(rows)
    if not rows:
        step = asked_step if asked_step in STEPS else "5min"
        return {"step": step, "step_name": STEP_NAMES[step], "labels": [], "datasets": {name: [] for name in SERIES}}
    step = choose_step(rows[0]["start"], rows[-1]["start"], asked_step)
    added: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SERIES, 0))
    for row in rows:
        point = added[step_start(row["start"], step, zone)]
        for name in SERIES:
            point[name] += row[name] or 0
    points = filled(sorted(added), step, zone)
    return {
        "step": step,
        "step_name": STEP_NAMES[step],
        "labels": [label(point, step) for point in points],
        "datasets": {name: [added[p][name] if p in added else 0 for p in points] for name in SERIES},
    }


def step_start(at: datetime, step: str, zone) -> datetime:
    local = timezone.localtime(at, zone)
    if step == "day":
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if step == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local


def filled(points: list[datetime], step: str, zone) -> list[datetime]:
    """Every step from the first to the last, the empty ones too (a gap is a zero, not skipped)."""
    if step == "day":  # calendar days: one across a clock change is still one day
        first, last = points[0].date(), points[-1].date()
        days = min((last - first).days, MAX_POINTS)
        return [timezone.make_aware(datetime.combine(first + timedelta(days=n), time()), zone) for n in range(days + 1)]
    found, at = [], points[0]
    while at <= points[-1] and len(found) <= MAX_POINTS:
        found.append(at)
        at = timezone.localtime(at + STEPS[step], zone)
    return found


def label(point: datetime, step: str) -> str:
    if step == "day":
        return f"{point:%a %d %b}"
    return f"{point:%d %b %H:%M}"


def failures(campaign_id: int, raw: bool = False, provider: str = "") -> list[dict[str, object]]:
    """Failures by error code, most common first, with the code's meaning as last reported (``raw``:
    as stored, for a caller that words them itself; ``provider``: the 24-hour rule's failures, Twilio
    63016 and Gupshup 1004-1008, said in the words the rest of the site says it)."""
    rows = CampaignBreakdown.objects.filter(
        campaign_id=campaign_id, kind=CampaignBreakdown.Kind.ERROR, failed__gt=0
    ).order_by("-failed", "key")[:TOP_FAILURES]
    if raw:
        return [{"code": row.key, "meaning": row.meaning, "count": row.failed} for row in rows]
    return [
        {
            "code": row.key or "—",
            "meaning": failure_words(provider, row.key, row.meaning) or row.meaning or "No reason given",
            "count": row.failed,
        }
        for row in rows
    ]


@lru_cache(maxsize=512)
def country_name(code: str) -> str:
    try:
        return geocoder.country_name_for_number(phonenumbers.example_number(code), "en") or code
    except Exception:  # noqa: BLE001 - a region phonenumbers has no example for is shown by its code
        return code


def countries(campaign_id: int) -> list[dict[str, object]]:
    """Results by the recipients' country, the biggest first."""
    rows = CampaignBreakdown.objects.filter(campaign_id=campaign_id, kind=CampaignBreakdown.Kind.COUNTRY).order_by(
        "-sent", "key"
    )[:TOP_COUNTRIES]
    return [
        {
            "code": row.key,
            "name": "Unknown" if row.key == "ZZ" else country_name(row.key),
            "sent": row.sent,
            "delivered": row.delivered,
            "delivery_rate": rate(row.delivered, row.sent),
            "delivery_rate_text": f"{rate(row.delivered, row.sent) or 0:.1%}",
            "failed": row.failed,
            "clicked": row.unique_clicks,
            "replied": row.repliers,
            "opted_out": row.opt_outs,
        }
        for row in rows
    ]


def costs(segments_by_channel: dict[int, int]) -> list[dict[str, object]]:
    """Segments times each channel's price, added up per currency; a channel without a price says so."""
    channels = Channel.objects.in_bulk(list(segments_by_channel))
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    unpriced = []
    for channel_id, segments in segments_by_channel.items():
        channel = channels.get(channel_id)
        if channel is None or not channel.price_per_segment:
            unpriced.append(channel.name if channel else f"channel {channel_id}")
            continue
        by_currency[channel.currency or "(no currency)"] += segments * channel.price_per_segment
    found: list[dict[str, object]] = [
        {"currency": currency, "amount": amount.quantize(Decimal("0.01"))} for currency, amount in by_currency.items()
    ]
    return found + [{"currency": "", "amount": None, "unpriced": name} for name in unpriced]


def campaign_cost(campaign_id: int) -> dict[str, object]:
    rows = (
        CampaignBucket.objects.filter(campaign_id=campaign_id)
        .values_list("channel_id")
        .annotate(n=Sum("segments"))
        .order_by()
    )
    by_channel = {channel_id: int(n or 0) for channel_id, n in rows if n}
    return {"segments": sum(by_channel.values()), "costs": costs(by_channel)}


# A fallback's state in the panel's words (message states as strings, as in outcomes.py).
FALLBACK_STATES = {
    "delivered": ("delivered", "read"),
    "failed": ("failed", "undelivered"),
    "to_go": ("queued", "sending", "scheduled"),
}
FALLBACK_WENT = ("sent", "delivered", "read", "failed", "undelivered", "unknown")  # handed to the SMS provider


def fallbacks(campaign: Campaign) -> dict[str, object] | None:
    """A WhatsApp campaign's SMS fallbacks, apart from its funnel: how many were made, went, were
    delivered or failed, and their cost on the fallback channel. A fallback is a single message
    (no campaign), so the tallies file it under no campaign and the funnel never counts it; this is one
    GROUP BY on the msg_fallbacks index (a few rows, one per state), and a fallback row is one per
    WhatsApp message, so a duplicate receipt counts nothing twice. None without a fallback channel."""
    if campaign.fallback_channel_id is None:
        return None
    by_status = dict(
        OutboundMessage.objects.filter(fallback_campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    figures = {name: sum(by_status.get(s, 0) for s in states) for name, states in FALLBACK_STATES.items()}
    went = sum(by_status.get(s, 0) for s in FALLBACK_WENT)
    segments = went * max(count_segments(campaign.fallback_text).segments, 1)
    channel = campaign.fallback_channel
    return {
        "made": sum(by_status.values()),
        "went": went,
        **figures,
        "segments": segments,
        "channel": channel.name,
        "cost": costs({channel.pk: segments})[0] if segments else None,
    }


def campaign_analytics(campaign: Campaign, asked_step: str = "", zone=None) -> dict[str, object]:
    """Everything the campaign page's analytics panel shows."""
    counts = totals(campaign.pk)
    return {
        "fallbacks": fallbacks(campaign),
        "counts": counts,
        "funnel": funnel(campaign, counts),
        "chart": series(campaign.pk, asked_step, zone),
        "failures": failures(campaign.pk, provider=campaign.channel.provider),
        "countries": countries(campaign.pk),
        "cost": campaign_cost(campaign.pk),
    }


def recent_campaigns(limit: int = 10) -> list[dict[str, object]]:
    """The latest started campaigns side by side: their funnels' rates, from their tallies."""
    campaigns = list(Campaign.objects.filter(started_at__isnull=False).order_by("-started_at")[:limit])
    rows = (
        CampaignBucket.objects.filter(campaign_id__in=[c.pk for c in campaigns])
        .values("campaign_id")
        .annotate(**{name: Sum(name) for name in COUNTERS})
        .order_by()
    )
    by_campaign = {row["campaign_id"]: row for row in rows}
    table = []
    for campaign in campaigns:
        counts = {name: int(by_campaign.get(campaign.pk, {}).get(name) or 0) for name in COUNTERS}
        table.append({"campaign": campaign, "counts": counts, "funnel": funnel(campaign, counts)})
    return table


def daily(days: int, zone=None, now: datetime | None = None) -> dict[str, object]:
    """The dashboard's chart: per day of the viewer's zone over the last ``days`` (today included),
    sends, delivery rate, clicks, replies, opt-outs and cost (per currency), from the hourly tallies."""
    zone = zone or timezone.get_current_timezone()
    today = timezone.localtime(now or timezone.now(), zone).replace(hour=0, minute=0, second=0, microsecond=0)
    first = (today - timedelta(days=days - 1)).replace(hour=0)  # whole local days
    first = timezone.make_aware(first.replace(tzinfo=None), zone)
    rows = (
        HourlyOutcomes.objects.filter(hour__gte=first)
        .values_list("hour", "channel_id", "sent", "delivered", "failed", "clicks", "replies", "opt_outs", "segments")
        .order_by()
    )
    labels, index = [], {}
    for n in range(days):
        day = (first + timedelta(days=n, hours=12)).astimezone(zone).date()
        index[day] = n
        labels.append(f"{day:%a %d %b}")
    figures = {name: [0] * days for name in ("sent", "delivered", "failed", "clicks", "replies", "opt_outs")}
    segments: dict[int, list[int]] = defaultdict(lambda: [0] * days)
    for hour, channel_id, sent, delivered, failed, clicks, replies, opt_outs, segs in rows:
        n = index.get(timezone.localtime(hour, zone).date())
        if n is None:
            continue
        for name, value in zip(figures, (sent, delivered, failed, clicks, replies, opt_outs), strict=True):
            figures[name][n] += value
        segments[channel_id][n] += segs
    figures["delivery_rate"] = [
        round(100 * d / s, 1) if s else None for d, s in zip(figures["delivered"], figures["sent"], strict=True)
    ]
    cost = daily_cost(segments, days)
    summed = {name: sum(values) for name, values in figures.items() if name != "delivery_rate"}
    summed["delivery_rate"] = f"{rate(summed['delivered'], summed['sent']) or 0:.1%}" if summed["sent"] else "—"
    summed["cost"] = [(currency, round(sum(values), 2)) for currency, values in cost.items()]
    return {"days": days, "labels": labels, "figures": figures, "cost": cost, "totals": summed}


def daily_cost(segments: dict[int, list[int]], days: int) -> dict[str, list[float]]:
    """Each day's cost per currency (channels without a price are left out)."""
    channels = Channel.objects.in_bulk(list(segments))
    by_currency: dict[str, list[float]] = {}
    for channel_id, per_day in segments.items():
        channel = channels.get(channel_id)
        if channel is None or not channel.price_per_segment:
            continue
        line = by_currency.setdefault(channel.currency or "(no currency)", [0.0] * days)
        for n, number in enumerate(per_day):
            line[n] = round(line[n] + float(number * channel.price_per_segment), 2)
    return by_currency

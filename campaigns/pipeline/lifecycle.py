"""A campaign's life: which verbs fit which state, the late-start guard, duplicate and archive.

The verbs themselves are conditional UPDATEs on the model (campaigns/models/campaign.py), so two
staff members pressing buttons at once, or a worker finishing meanwhile, can never move a campaign
along a transition that is not in this table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, QuerySet
from django.utils import timezone

from campaigns.models import Campaign

Status = Campaign.Status

# The verbs staff may use in each state, in the order the page offers them.
VERBS: dict[str, tuple[str, ...]] = {
    Status.DRAFT: ("launch", "schedule", "duplicate", "cancel"),
    Status.SCHEDULED: ("launch", "reschedule", "duplicate", "cancel"),
    Status.RUNNING: ("pause", "duplicate", "cancel"),
    Status.PAUSED: ("resume", "duplicate", "cancel"),
    Status.COMPLETED: ("duplicate", "archive"),
    Status.CANCELLED: ("duplicate", "archive"),
}


def verbs_for(campaign: Campaign) -> tuple[str, ...]:
    """The verbs that make sense for this campaign now (an archived one can only be copied)."""
    if campaign.archived_at is not None:
        return ("duplicate",)
    return VERBS.get(campaign.status, ())


# --- the late-start guard --------------------------------------------------------------------


def late(campaigns: QuerySet[Campaign], now: datetime) -> QuerySet[Campaign]:
    """Scheduled campaigns not yet started that are later than their guard allows."""
    latest = ExpressionWrapper(F("scheduled_at") + F("max_lateness"), output_field=DateTimeField())
    return (
        campaigns.filter(
            status=Status.SCHEDULED, fanned_out_at__isnull=True, max_lateness__isnull=False, scheduled_at__isnull=False
        )
        .alias(latest_start=latest)
        .filter(latest_start__lt=now)
    )


def hold_late(campaigns: QuerySet[Campaign], now: datetime | None = None) -> int:
    """Say why late campaigns wait; they stay scheduled at their time, for a person to start or move.

    Returns how many of ``campaigns`` are held. Never changes ``scheduled_at`` or the status: only
    a person decides whether a sale announcement that is hours late still goes out.
    """
    now = now or timezone.now()
    held = late(campaigns, now)
    for campaign in held.exclude(status_reason__startswith=Campaign.LATE_HOLD).only("pk", "max_lateness"):
        Campaign.objects.filter(pk=campaign.pk, status=Status.SCHEDULED).update(
            status_reason=late_reason(campaign.max_lateness), updated_at=now
        )
    return held.count()


def late_reason(allowed: timedelta) -> str:
    return (
        f"{Campaign.LATE_HOLD}it could not start within {duration_words(allowed)} of its scheduled time "
        "(the system was down or busy). Launch it now, choose a new time, or cancel it."
    )


def duration_words(duration: timedelta) -> str:
    """'90 minutes' -> '1 hour 30 minutes', for sentences staff read."""
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " ".join(words) or "less than a minute"


# --- copies and the archive ------------------------------------------------------------------


def duplicate(campaign: Campaign, user=None) -> Campaign:
    """A new draft with the same content, audience and settings; no time, no messages."""
    copy_fields = [
        "channel_id",
        "template_id",
        "text",
        "media_urls",
        "provider_template",
        "duplicates_allowed",
        "window_start",
        "window_end",
        "max_lateness",
        *("test_share", "test_wait", "winner_by"),
        *("fallback_channel_id", "fallback_text", "fallback_after"),
    ]
    with transaction.atomic():
        copy = Campaign.objects.create(
            name=f"Copy of {campaign.name}"[:200],
            kind=Campaign.Kind.CAMPAIGN,
            created_by=user,
            sender_label=user.get_username() if user is not None else campaign.sender_label,
            **{name: getattr(campaign, name) for name in copy_fields},
        )
        copy.lists.set(campaign.lists.all())
        copy.exclude_lists.set(campaign.exclude_lists.all())
        for variant in campaign.variants.all():  # its A/B variants, as they were
            variant.pk, variant.campaign = None, copy
            variant.save()
    return copy


def archive(campaign: Campaign) -> bool:
    """Put a finished campaign away (its messages stay); False unless completed or cancelled."""
    finished = [Status.COMPLETED, Status.CANCELLED]
    now = timezone.now()
    changed = Campaign.objects.filter(pk=campaign.pk, status__in=finished, archived_at__isnull=True).update(
        archived_at=now, updated_at=now
    )
    if changed:
        campaign.archived_at = now
    return bool(changed)

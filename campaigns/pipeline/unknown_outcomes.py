"""Messages whose fate is in doubt, and the three ways a person settles one.

In doubt: ``unknown`` (the request may have reached the provider, no answer came back) and
``sending`` past SENDING_STALE_SECONDS (its worker died and the reconciler has not turned it to
``unknown`` yet). Nobody resends these silently: an administrator checks with the provider where
it can be asked, then marks them sent, marks them failed with a reason, or resends them knowing a
recipient may get the message twice. Each decision is written on the message (what, who, when).

Every change is one conditional UPDATE on rows still in doubt, so two administrators, or one and a
worker or the reconciler, can race: the first decision wins and the others change nothing.
Marking sent or failed is an outcome the customer's systems never heard of (the worker could not
tell): it records message.sent or message.failed for the endpoints and status_callback URLs, once,
with the decision.
Used by the admin page (campaigns/admin/unknown_outcomes.py) and `manage.py unknown_messages`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.analytics import tally_sends
from campaigns.events import record_message_events
from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline.queueing import enqueue_send
from providers.base import LookUp
from providers.models import Channel
from providers.registry import provider_for

Status = OutboundMessage.Status
SENT, FAILED, RESEND = "sent", "failed", "resend"
DECISIONS = (SENT, FAILED, RESEND)
DUPLICATE_WARNING = "The provider may already have these messages: resending them can make recipients get them twice."


def in_doubt_q(now: datetime | None = None) -> Q:
    """Unknown, or stuck in sending past the stale limit (a live worker renews its claim sooner)."""
    stale = (now or timezone.now()) - timedelta(seconds=settings.SENDING_STALE_SECONDS)
    return Q(status=Status.UNKNOWN) | Q(status=Status.SENDING, claimed_at__lte=stale)


def in_doubt(
    campaign: int | str | None = "any", channel: int | None = None, older_than: timedelta | None = None
) -> QuerySet[OutboundMessage]:
    """Messages in doubt; ``campaign`` an id, None for single and API messages, "any" for all.

    Both states have a partial index (msg_unknown, msg_sending_claimed), so this reads only them.
    """
    now = timezone.now()
    messages = OutboundMessage.objects.filter(in_doubt_q(now))
    if campaign is None:
        messages = messages.filter(campaign__isnull=True)
    elif campaign != "any":
        messages = messages.filter(campaign_id=campaign)
    if channel is not None:
        messages = messages.filter(channel_id=channel)
    if older_than is not None:
        messages = messages.filter(updated_at__lte=now - older_than)
    return messages


@dataclass
class Group:
    """The messages in doubt of one campaign (or of no campaign) on one channel."""

    campaign: Campaign | None
    channel: Channel
    unknown: int
    stuck: int
    oldest: datetime
    latest: datetime

    @property
    def total(self) -> int:
        return self.unknown + self.stuck

    @property
    def campaign_key(self) -> str:
        return str(self.campaign.pk) if self.campaign else "none"


def groups(messages: QuerySet[OutboundMessage]) -> list[Group]:
    """By campaign and channel, biggest first: counts by state and the time of the oldest."""
    rows = (
        messages.order_by()
        .values("campaign_id", "channel_id")
        .annotate(
            unknown=Count("id", filter=Q(status=Status.UNKNOWN)),
            stuck=Count("id", filter=Q(status=Status.SENDING)),
            oldest=Min(Coalesce("claimed_at", "updated_at")),
            latest=Max("updated_at"),
        )
    )
    rows = list(rows)
    campaigns = Campaign.objects.in_bulk({r["campaign_id"] for r in rows} - {None})
    channels = Channel.objects.in_bulk({r["channel_id"] for r in rows})
    found = [
        Group(
            campaign=campaigns.get(row["campaign_id"]),
            channel=channels[row["channel_id"]],
            unknown=row["unknown"],
            stuck=row["stuck"],
            oldest=row["oldest"],
            latest=row["latest"],
        )
        for row in rows
    ]
    return sorted(found, key=lambda group: (-group.total, group.oldest))


# --- checking with the provider ---------------------------------------------------------------------


def check_with_provider(message: OutboundMessage) -> LookUp:
    """What the message's provider says about it (found, its status, its id), or that it cannot tell."""
    from campaigns.pipeline.sending import render_message

    since = message.claimed_at or message.updated_at
    return provider_for(message.channel).look_up(render_message(message), message.provider_message_id, since)


# --- decisions ----------------------------------------------------------------------------------------


@dataclass
class Resolved:
    """What a decision changed: how many rows, and how many had left doubt before it (someone else's)."""

    changed: int
    asked: int

    @property
    def skipped(self) -> int:
        return self.asked - self.changed


def _still_in_doubt(ids: Iterable[int]) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(pk__in=list(ids)).filter(in_doubt_q())


def _record(by: str, words: str) -> dict[str, object]:
    now = timezone.now()
    return {"resolution": words[:400], "resolved_by": by[:150], "resolved_at": now, "updated_at": now}


def mark_sent(ids: list[int], by: str, provider_ids: dict[int, str] | None = None) -> Resolved:
    """The provider has them (checked): sent. ``provider_ids`` the ids the provider gave them, if found."""
    now = timezone.now()
    words = "Marked sent by a person after checking with the provider."
    with transaction.atomic():
        deciding = _deciding(ids)
        changed = _still_in_doubt(ids).update(
            status=Status.SENT,
            claim_token=None,
            sent_at=Coalesce("sent_at", "claimed_at", now),
            error_code="",
            error_message="",
            **_record(by, words),
        )
        for message_id, provider_id in (provider_ids or {}).items():
            # Only onto the rows this decision just marked, and only where we had no id of theirs.
            OutboundMessage.objects.filter(
                pk=message_id, status=Status.SENT, resolved_at__gte=now, provider_message_id=""
            ).update(provider_message_id=provider_id[:100])
        tally_sends(deciding, dict.fromkeys([row[0] for row in deciding], (Status.SENT, "", "")), now)
        record_message_events([row[0] for row in deciding], Status.SENT)
    return Resolved(changed, len(ids))


def _deciding(ids: list[int]) -> list[tuple]:
    """The rows a decision is about to move, locked: the analytics tallies (campaigns/analytics/)
    count exactly those."""
    rows = _still_in_doubt(ids).select_for_update().order_by("pk")
    return list(rows.values_list("pk", "campaign_id", "channel_id", "to", "body", "variant"))


def mark_failed(ids: list[int], by: str, reason: str) -> Resolved:
    """They did not go and will not be resent: failed, with the reason a person gave."""
    reason = reason.strip()
    if not reason:
        raise ValueError("reason: say why these messages are marked failed.")
    with transaction.atomic():
        deciding = _deciding(ids)
        changed = _still_in_doubt(ids).update(
            status=Status.FAILED,
            claim_token=None,
            error_code="marked_failed",
            error_message=reason,
            **_record(by, f"Marked failed by a person: {reason}"),
        )
        outcome = (Status.FAILED, "marked_failed", reason)
        tally_sends(deciding, dict.fromkeys([row[0] for row in deciding], outcome), timezone.now())
        record_message_events([row[0] for row in deciding], Status.FAILED)
    return Resolved(changed, len(ids))


def resend(ids: list[int], by: str, duplicates_accepted: bool) -> Resolved:
    """Queue them again, once a person has accepted that recipients may get them twice.

    Not a cancelled campaign's: its messages stay unsent. The send jobs go on the `high` queue after
    the commit, like a single message's.
    """
    if not duplicates_accepted:
        raise ValueError(f"confirm: {DUPLICATE_WARNING} Confirm that to resend.")
    with transaction.atomic():
        # Nor an opt-out confirmation: its number is suppressed, and it may be sent once at most.
        rows = _still_in_doubt(ids).exclude(campaign__status=Campaign.Status.CANCELLED).exclude(confirms_opt_out=True)
        # The UPDATE below re-checks the doubt itself: a row settled in between is left alone.
        chosen = list(rows.values_list("id", flat=True))
        changed = _still_in_doubt(chosen).update(
            status=Status.QUEUED,
            claim_token=None,
            next_attempt_at=None,
            error_code="",
            error_message="",
            **_record(by, "Resent by a person, accepting that the recipient may get it twice."),
        )
        if changed:
            enqueue_send(chosen)
    return Resolved(changed, len(ids))


def decide(decision: str, ids: list[int], by: str, reason: str = "", duplicates_accepted: bool = False) -> Resolved:
    if decision == SENT:
        return mark_sent(ids, by)
    if decision == FAILED:
        return mark_failed(ids, by, reason)
    if decision == RESEND:
        return resend(ids, by, duplicates_accepted)
    raise ValueError(f"decision: {decision!r} is not one of {', '.join(DECISIONS)}.")

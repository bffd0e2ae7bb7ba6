"""Test then winner: the variants go to a share of the audience; after the wait the winner (by click
or reply rate, or a person's pick) goes to the rest.

State lives on the campaign, so it survives a worker restart and a Redis flush:

- the fan-out gives every recipient one row: the test's share with its variant, the rest
  scheduled with no time and no variant (nothing sends them, and the campaign cannot complete);
- when the fan-out is complete, ``winner_due_at`` is set and a job is scheduled for then (RQ's
  scheduler keeps it through a restart; the reconciler enqueues it again if Redis lost it);
- the job (or a person) sets ``winner`` once, in one conditional UPDATE, then gives the rest's
  rows that variant and queues them, a slice at a time; ``winner_due_at`` is cleared when none is
  left. Run twice, or after a crash half-way, it only finishes what is left.

No recipient ever gets two variants: each has one row per campaign (the fan-out's unique key) and
a row's variant is written once, while it is still waiting without one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from campaigns.models.staff import zone_label
from campaigns.models.variant import letter
from campaigns.pipeline.queueing import CAMPAIGN_QUEUE, campaign_job_id, enqueue_after_commit, enqueue_dispatch
from campaigns.variants.results import Results, results
from messaging_site.logs import logged_job

log = logging.getLogger(__name__)
Status = Campaign.Status
Message = OutboundMessage.Status
RELEASE_SLICE = 20_000  # the rest's rows given the winner per statement
ENDED = (Status.COMPLETED, Status.CANCELLED)
METRIC = {"clicks": ("clicked", "click rate"), "replies": ("replied", "reply rate")}


def schedule_winner(campaign_id: int, now: datetime) -> None:
    """The fan-out is complete: an A/B test's winner step is due after its wait (in the caller's transaction)."""
    campaign = Campaign.objects.filter(pk=campaign_id, test_share__isnull=False, winner__isnull=True).first()
    if campaign is None or not campaign.variants.exists():
        return
    due = now + (campaign.test_wait or timedelta(0))
    Campaign.objects.filter(pk=campaign_id).update(winner_due_at=due)
    if campaign.winner_by != "person":
        enqueue_winner_step(campaign_id, at=due)


def enqueue_winner_step(campaign_id: int, at: datetime | None = None) -> None:
    job_id = lambda: campaign_job_id(campaign_id, "winner")  # noqa: E731
    later = at if at is not None and at > timezone.now() else None
    enqueue_after_commit(winner_step, [(campaign_id,)], later, CAMPAIGN_QUEUE, job_id)


def held(campaign_id: int):
    """The rest of a test: rows waiting, with no variant and no time, for the winner."""
    return OutboundMessage.objects.filter(
        campaign_id=campaign_id, status=Message.SCHEDULED, variant__isnull=True, send_at__isnull=True
    )


@logged_job("winner_step", lambda campaign_id: {"campaign": campaign_id})
def winner_step(campaign_id: int) -> str:
    """Choose the winner if it is time and nobody has, then send it to the rest; what it did, in words."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.test_share is None or campaign.winner_due_at is None:
        return "nothing to do"
    if campaign.winner is None:
        if campaign.status not in (Status.RUNNING, Status.PAUSED) or campaign.winner_by == "person":
            return "waiting for a person" if campaign.status not in ENDED else "ended"
        if campaign.winner_due_at > timezone.now():
            return "not due yet"  # an early copy (the reconciler's): the scheduled one comes at the time
        position, note = best_by(campaign, campaign.winner_by or "clicks")
        choose(campaign_id, position, note)
    return f"{send_rest(campaign_id)} sent the winner"


def best_by(campaign: Campaign, metric: str) -> tuple[int, str]:
    """The variant with the highest rate of ``metric`` (ties and no data: the first), and why, in words."""
    metric = metric if metric in METRIC else "clicks"
    count, words = METRIC[metric]
    found = results(campaign, over=True)  # the test is over: its notes say so
    sent = [v for v in found.variants if v.sent] or found.variants
    best = min(sent, key=lambda v: (-(getattr(v, count) / v.sent if v.sent else 0), v.position))
    return best.position, f"Chosen by {words} after the test ({rates_of(found, count)}). {found.notes[metric]}"


def rates_of(found: Results, count: str) -> str:
    """Each variant's rate of ``count`` (clicked, replied), e.g. "A 50.0%, B 0.0%"."""
    return ", ".join(f"{v.letter} {v.rate_text(getattr(v, count))}" for v in found.variants)


def choose(campaign_id: int, position: int, note: str) -> bool:
    """Record the winner, once: False if one was chosen already or the campaign has ended."""
    return bool(
        Campaign.objects.filter(
            pk=campaign_id, winner__isnull=True, test_share__isnull=False, status__in=[Status.RUNNING, Status.PAUSED]
        ).update(winner=position, winner_note=note[:300], updated_at=timezone.now())
    )


def send_rest(campaign_id: int) -> int:
    """Give the rest's rows the winner and queue them, a slice at a time; how many moved. A running
    campaign gets its dispatch jobs; a paused one keeps them queued until it is resumed."""
    winner = Campaign.objects.filter(pk=campaign_id).values_list("winner", flat=True).first()
    if winner is None:
        return 0
    moved = 0
    while True:
        with transaction.atomic():
            ids = list(held(campaign_id).order_by().values_list("pk", flat=True)[:RELEASE_SLICE])
            if not ids:
                break
            first = moved == 0
            moved += (
                held(campaign_id)
                .filter(pk__in=ids)
                .update(variant=winner, status=Message.QUEUED, next_attempt_at=None, updated_at=timezone.now())
            )
            if first and Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).exists():
                enqueue_dispatch(campaign_id)  # the first slice goes while the next ones are given the winner
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign_id).update(winner_due_at=None, updated_at=timezone.now())
        if Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).exists():
            enqueue_dispatch(campaign_id)
    log.info("campaign %s: winner %s sent to %s more recipients", campaign_id, letter(winner), moved)
    return moved


def pick_winner(campaign: Campaign, position: int, who: str) -> str:
    """A person's pick: "" when done, else why not, in words for staff."""
    refusal = pick_refusal(campaign, position)
    if refusal:
        return refusal
    stamp = f"{timezone.localtime():%d %b %Y %H:%M}, {zone_label()}"  # the picker's zone, named
    # What the pick was made on, kept: once the rest have the winner its figures are mostly theirs.
    found = results(campaign)
    then = f"click rates were {rates_of(found, 'clicked')} and reply rates {rates_of(found, 'replied')}"
    with transaction.atomic():
        if not choose(campaign.pk, position, f"Picked by {who} on {stamp}, when the test's {then}."):
            return f"“{campaign}” changed meanwhile: reload the page to see its winner."
        enqueue_winner_step(campaign.pk)  # a worker gives the rest the winner: a million rows take a while
    return ""


def pick_refusal(campaign: Campaign, position: int) -> str:
    """Why a person may not pick ``position`` as the winner now ("" if they may)."""
    if campaign.status in ENDED:
        refusal = f"“{campaign}” has ended ({campaign.get_status_display().lower()}): a winner can no longer be picked."
    elif campaign.test_share is None:
        refusal = f"“{campaign}” has no test: every recipient gets a variant by the split."
    elif campaign.winner is not None:
        refusal = f"Variant {letter(campaign.winner)} was chosen already: {campaign.winner_note}"
    elif campaign.winner_due_at is None or campaign.status not in (Status.RUNNING, Status.PAUSED):
        refusal = f"“{campaign}”'s test has not gone out yet: pick the winner once it has results."
    elif not campaign.variants.filter(position=position).exists():
        refusal = f"variant: {letter(position) or position!r} is not one of this campaign's variants."
    else:
        refusal = ""
    return refusal


def wake_lost_winner_steps() -> int:
    """Reconciler step: running tests whose winner step is overdue (a lost job, a crash half-way)
    get it again; touched so the next tick does not enqueue it again before QUEUED_STALE_SECONDS."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    overdue = Campaign.objects.filter(status=Status.RUNNING, winner_due_at__lte=stale).exclude(
        winner__isnull=True, winner_by="person"
    )
    ids = list(overdue.order_by("id").values_list("id", flat=True)[:1000])
    with transaction.atomic():
        Campaign.objects.filter(pk__in=ids).update(winner_due_at=now)
        for campaign_id in ids:
            enqueue_winner_step(campaign_id)
    return len(ids)

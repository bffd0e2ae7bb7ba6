"""RQ jobs: thin wrappers that take ids and call the pipeline. Enqueue them through queueing.py."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.events import record_completion
from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline import sending, written
from campaigns.pipeline.fanout import start_due_campaigns
from campaigns.pipeline.queueing import (
    MAX_PARALLEL_DISPATCH,
    Turn,
    chunked,
    enqueue_dispatch,
    enqueue_dispatch_at_opening,
    enqueue_dispatch_at_retry,
    enqueue_overdue_scheduled,
    enqueue_send,
    urgent_work_waiting,
)
from campaigns.variants import wake_lost_winner_steps
from messaging_site.logs import logged_job
from providers.registry import provider_class, provider_for

log = logging.getLogger(__name__)
Status = OutboundMessage.Status


def _messages(message_ids: list[int], budget: float | None = None) -> dict[str, object]:
    return {"messages": len(message_ids), "first_message": min(message_ids, default=None)}


@logged_job("send_messages", _messages)
def send_messages_job(message_ids: list[int], budget: float | None = None) -> dict[str, int]:
    """Send these messages; what the time slice could not reach goes back on the queue."""
    summary = sending.send_messages(message_ids, budget=budget or settings.SEND_JOB_BUDGET_SECONDS)
    mine = OutboundMessage.objects.filter(pk__in=message_ids)
    retry_at = sending.next_retry(mine, after=summary.looked_at)
    if retry_at is not None:
        # All of them at the first one's time: that job sends those due and books the next time.
        enqueue_send(sending.held_for_retry(mine, summary.looked_at).values_list("id", flat=True), at=retry_at)
    if summary.out_of_time:
        enqueue_send(sending.due_queued(mine).values_list("id", flat=True))
    for campaign_id in summary.waiting_campaigns:  # a resent campaign message outside its hours
        wake_at_next_opening(campaign_id)
    return dict(summary.counts)


@logged_job("dispatch_campaign", lambda campaign_id: {"campaign": campaign_id})
def dispatch_campaign_job(campaign_id: int) -> dict[str, int]:
    """Send a running campaign's queued messages, a chunk at a time, until none is due.

    The campaign's status is read before every chunk, so a pause or cancel stops new claims
    within one chunk's time. Several of these jobs may run for one campaign at once.
    """
    summary = sending.SendSummary()
    queued = OutboundMessage.objects.filter(campaign_id=campaign_id)
    deadline = time.monotonic() + settings.SEND_JOB_BUDGET_SECONDS
    turn = Turn(campaign_id)
    claims = 0  # a turn sends at least one claim, so two campaigns never just hand over to each other
    looked = timezone.now()  # when the last claim looked for due messages
    while campaign := running_campaign(campaign_id):
        if not campaign.channel.can_send:
            break  # a paused channel pauses its campaigns; a switched-off one just waits
        if time.monotonic() > deadline or (turn.over() if claims else urgent_work_waiting()):
            # A job never outlives its slice (RQ would kill it mid-send), nor keeps a single
            # message, the reconciler or another campaign's job waiting behind it for more than
            # a turn: a fresh one carries on after them, from the back of the queue.
            enqueue_dispatch(campaign_id, parallel=1)
            return dict(summary.counts)
        sharers = sending.claims_on(campaign.channel_id) + 1
        batch = provider_for(campaign.channel).batch_size()
        looked = timezone.now()
        token = sending.claim(queued, limit=sending.claim_limit([(campaign.channel.rate_limit,)], sharers, batch))
        if token is None:
            if release_waiting(campaign_id):
                continue  # sending hours opened for some: they are queued now
            break
        sending.send_claimed(token, summary, give_way=turn.over)
        claims += 1
        Campaign.objects.filter(pk=campaign_id).update(updated_at=timezone.now())  # heartbeat
    if not complete_if_done(campaign_id):
        wake_at_next_retry(campaign_id, after=looked)
        wake_at_next_opening(campaign_id)
    return dict(summary.counts)


def wake_at_next_retry(campaign_id: int, after) -> None:
    """A running campaign's messages back in the queue for a retry later than this job's last look
    (held back as late, struck off unsent, answered "try again") get a dispatch job at the first
    retry time: one per campaign and moment however many of its jobs ask. Not at the last retry
    time of this job's own: a batch held back as late for a fraction of a second would wait for
    another message's backoff, or for the reconciler (QUEUED_STALE_SECONDS)."""
    retry_at = sending.next_retry(OutboundMessage.objects.filter(campaign_id=campaign_id), after)
    if retry_at is not None and running_campaign(campaign_id) is not None:
        enqueue_dispatch_at_retry(campaign_id, retry_at)


def release_waiting(campaign_id: int) -> int:
    """Queue the campaign's messages whose sending hours have opened; more dispatch jobs if many."""
    released = sending.release_waiting(campaign_id)
    if released > settings.SEND_CHUNK_SIZE:
        # This job is one of the workers the released messages need; ask for the others.
        enqueue_dispatch(campaign_id, parallel=min(MAX_PARALLEL_DISPATCH, -(-released // settings.SEND_CHUNK_SIZE)) - 1)
    return released


def wake_at_next_opening(campaign_id: int) -> None:
    """A running campaign with messages waiting for their sending hours gets a dispatch job for
    the first opening (one per campaign and moment however many jobs ask; the reconciler is the
    safety net if Redis loses it)."""
    opening = sending.next_opening(campaign_id)
    if opening is not None and running_campaign(campaign_id) is not None:
        enqueue_dispatch_at_opening(campaign_id, opening)


def running_campaign(campaign_id: int) -> Campaign | None:
    return Campaign.objects.select_related("channel").filter(pk=campaign_id, status=Campaign.Status.RUNNING).first()


def complete_if_done(campaign_id: int) -> bool:
    """A running campaign with nothing left to send (or waiting to retry) is completed."""
    pending = (Status.SCHEDULED, Status.QUEUED, Status.SENDING)
    if OutboundMessage.objects.filter(campaign_id=campaign_id, status__in=pending).exists():
        return False
    now = timezone.now()
    with transaction.atomic():  # completed, and campaign.completed / bulk_job.completed recorded, together
        completed = Campaign.objects.filter(
            pk=campaign_id, status=Campaign.Status.RUNNING, fanned_out_at__isnull=False
        ).update(status=Campaign.Status.COMPLETED, finished_at=now, updated_at=now)
        if completed:
            record_completion(campaign_id)
    return bool(completed)


@logged_job("reconcile")
def reconcile() -> dict[str, int]:
    """Make the queue match the database: the database is the source of truth, Redis may be lost.

    Runs every few seconds (messaging_site/cron.py). Each step is safe to repeat and safe to run
    beside the workers, because sending only ever starts with an atomic claim.
    """
    return {
        "released": release_due_scheduled(),
        "requeued": requeue_lost_queued(),
        "expired": expire_stale_sending(),
        "campaigns_resumed": resume_stalled_campaigns(),
        "cancelled_left_behind": cancel_left_behind(),
        "campaigns_started": start_due_campaigns(),
        "winner_steps": wake_lost_winner_steps(),  # A/B tests whose winner job Redis lost
        "overdue_jobs": enqueue_overdue_scheduled(),  # RQ's scheduler held off by a dead worker's lock
    }


def release_due_scheduled() -> int:
    """Scheduled single messages whose time has come move to the queue and get a send job.

    A campaign's messages waiting for their sending hours are its dispatch job's (see
    resume_stalled_campaigns): a paused campaign's must wait on.
    """
    due = list(
        OutboundMessage.objects.filter(status=Status.SCHEDULED, send_at__lte=timezone.now(), campaign__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:50_000]
    )
    # In slices, so no statement carries thousands of ids as parameters (old SQLite builds take 999).
    for ids in chunked(due, settings.SEND_CHUNK_SIZE):
        with transaction.atomic():
            sending.release_due(OutboundMessage.objects.filter(pk__in=ids))
            enqueue_send(ids)
    return len(due)


def requeue_lost_queued() -> int:
    """Queued messages nobody picked up for a while lost their job: give them a new one.

    A duplicate job is harmless (the claim lets only one of them send), so this errs on the side
    of enqueueing again.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    lost = (
        OutboundMessage.objects.filter(status=Status.QUEUED, campaign__isnull=True)
        .filter(Q(next_attempt_at__lte=stale) | Q(next_attempt_at__isnull=True, updated_at__lte=stale))
        .order_by("id")
        .values_list("id", flat=True)[:50_000]
    )
    ids = list(lost)
    for chunk in chunked(ids, settings.SEND_CHUNK_SIZE):  # in slices, as in release_due_scheduled
        # Touch them so the next tick does not enqueue them again before a worker gets there.
        OutboundMessage.objects.filter(pk__in=chunk, status=Status.QUEUED).update(next_attempt_at=now)
        enqueue_send(chunk)
    return len(ids)


def expire_stale_sending() -> int:
    """Claims whose worker died (its heartbeat stopped): what never left goes back to the queue, and
    the batch that was in flight is resent only where that cannot duplicate, else marked unknown.
    Their running campaigns get dispatch jobs at once, so a crash costs the lease, not a minute more.

    Of a batch in flight, the rows whose requests were never written (the claim's record, kept in
    Redis, does not hold them: campaigns/pipeline/written.py) go back to the queue too: they never
    left. Where the record cannot be trusted (Redis lost it), every row of the batch is unknown.

    A live job renews its claim every LEASE_REFRESH_SECONDS, also while it waits for answers, so a
    claim not renewed for SENDING_STALE_SECONDS (20 s by default) is a dead worker's, or a hung job's.
    """
    stale = timezone.now() - timedelta(seconds=settings.SENDING_STALE_SECONDS)
    lost = OutboundMessage.objects.filter(status=Status.QUEUED, claim_token__isnull=False, claimed_at__lte=stale)
    stuck = OutboundMessage.objects.filter(status=Status.SENDING, claimed_at__lte=stale)
    # order_by(): distinct values, not one per row (the model's ordering by id would be selected too,
    # and a dead claim of 300 rows was settled 300 times, a Redis call and queries each, delaying recovery).
    campaigns = set(lost.exclude(campaign_id=None).order_by().values_list("campaign_id", flat=True).distinct())
    campaigns |= set(stuck.exclude(campaign_id=None).order_by().values_list("campaign_id", flat=True).distinct())
    expired = lost.update(claim_token=None, next_attempt_at=None)
    for code in stuck.order_by().values_list("channel__provider", flat=True).distinct():
        rows = stuck.filter(channel__provider=code)
        if provider_class(code).deduplicates_by_our_id:
            expired += rows.update(status=Status.QUEUED, claim_token=None, next_attempt_at=None)
            continue
        for token in rows.order_by().values_list("claim_token", flat=True).distinct():
            expired += _settle_lost_batch(rows.filter(claim_token=token), token)
    for campaign_id in Campaign.objects.filter(pk__in=campaigns, status=Campaign.Status.RUNNING).values_list(
        "pk", flat=True
    ):
        enqueue_dispatch(campaign_id)
    return expired


def _settle_lost_batch(rows, token) -> int:
    """A dead claim's rows in ``sending``: those whose requests were never written back to the queue
    (their try not counted), the others ``unknown``."""
    written_ids = written.close_record(token) if token is not None else None
    never_written = 0
    if written_ids is not None:
        # Only its batches in flight are ``sending``: a few hundred rows at most.
        unsent = [pk for pk in rows.filter(status=Status.SENDING).values_list("id", flat=True) if pk not in written_ids]
        never_written = rows.filter(pk__in=unsent, status=Status.SENDING).update(
            status=Status.QUEUED, claim_token=None, next_attempt_at=None, attempts=F("attempts") - 1
        )
    in_doubt = rows.filter(status=Status.SENDING).update(
        status=Status.UNKNOWN,
        claim_token=None,
        error_code="worker_lost",
        error_message="The worker stopped while sending; the provider may or may not have it. "
        "Check with the provider before sending again.",
    )
    if token is not None:
        log.info("claim %s lost: %d rows never written back to the queue, %d unknown", token, never_written, in_doubt)
    return never_written + in_doubt


LEFT_BEHIND_WITHIN = timedelta(days=1)  # a cancel's work in flight settles within minutes of it


def cancel_left_behind() -> int:
    """Messages of a recently cancelled campaign still waiting (no claim): cancelled too.

    cancel() takes every waiting message, and the pipeline cancels what it puts back in the queue
    after a cancel; this is the net for a cancel committed while such a write was in progress, and
    for a dead worker's batch put back by expire_stale_sending. No job reads a cancelled campaign's
    queue, so without it they would stay queued for ever, counted as still to go."""
    since = timezone.now() - LEFT_BEHIND_WITHIN
    cancelled = Campaign.objects.filter(status=Campaign.Status.CANCELLED, finished_at__gte=since)
    return sending.cancel_told(
        OutboundMessage.objects.filter(campaign__in=cancelled),
        status__in=(Status.SCHEDULED, Status.QUEUED),
        claim_token__isnull=True,
    )


def resume_stalled_campaigns() -> int:
    """Running campaigns with due messages and no recent progress lost their dispatch job.

    Due messages include those whose sending hours have opened: a lost wake-up job (a Redis flush)
    costs at most QUEUED_STALE_SECONDS.
    """
    stale = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    stalled = Campaign.objects.filter(
        status=Campaign.Status.RUNNING, fanned_out_at__isnull=False, updated_at__lte=stale
    ).values_list("id", flat=True)
    resumed = 0
    for campaign_id in stalled:
        due = (
            sending.due_queued(OutboundMessage.objects.filter(campaign_id=campaign_id)).exists()
            or sending.waiting_due(campaign_id).exists()
        )
        Campaign.objects.filter(pk=campaign_id).update(updated_at=timezone.now())
        if due:
            enqueue_dispatch(campaign_id)
            resumed += 1
        else:
            complete_if_done(campaign_id)
    return resumed

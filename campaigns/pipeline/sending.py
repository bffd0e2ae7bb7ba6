"""The send pipeline: claim queued messages, hand them to their channel's provider, record outcomes.

Every state change is a conditional UPDATE, so two workers never send the same message and a
crashed worker's claim can be found again (see reconcile in campaigns/pipeline/jobs.py).

A claim marks rows as ours (a claim token) but leaves them ``queued``: only the batch about to be
handed to the provider moves to ``sending``, one statement per batch. So when a worker dies, only
its batches in flight can be in doubt (``sending`` -> ``unknown``), and of them only the requests
noted as written (campaigns/pipeline/written.py); the rest of its claim never left and simply goes
back to the queue when the claim's lease runs out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from redis.exceptions import RedisError

from campaigns.analytics import tally_sends
from campaigns.content.personalisation import render
from campaigns.events import record_cancellations, record_message_events, record_opt_outs
from campaigns.links import LinkBatch
from campaigns.models import Campaign, OutboundMessage
from campaigns.models.staff import StaffProfile
from campaigns.models.variant import content_of
from campaigns.pipeline import sending_hours, written
from campaigns.pipeline.counters import count_outcomes
from campaigns.whatsapp.fallback import after_failures
from campaigns.whatsapp.preview import sent_record, templates_by_id
from contacts.models import Contact, Suppression
from messaging_site.logs import job_log
from providers import http
from providers.base import LATE, ChannelError, MessageRefused, Outcome, OutgoingMessage, SendResult
from providers.models import Channel
from providers.registry import provider_for

log = logging.getLogger(__name__)
Status = OutboundMessage.Status
CLAIM_SECONDS = 20  # a claim should take about this long to send at the worker's share of the rate
CLAIM_BATCHES = 8  # a claim holds at least this many provider batches, so they can overlap
# How often a claim asks whether its campaign was paused: within a second of pause() returning,
# no new request leaves (it is also asked just before each booked time, see _prepare_batch).
STOP_CHECK_SECONDS = 0.25
# The claim's heartbeat: a live job renews its claim this often, also while it waits for answers,
# and the reconciler takes a claim not renewed for SENDING_STALE_SECONDS for a dead worker's.
LEASE_REFRESH_SECONDS = 5


@dataclass
class SendSummary:
    """What one pass of the pipeline did, by outcome."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # When the last claim looked for due messages: those whose retry comes later need a job then
    # (next_retry; the job's follow-up is booked from the database, not from this pass's retries).
    looked_at: timezone.datetime = field(default_factory=timezone.now)
    out_of_time: bool = False  # stopped at the end of its time slice with messages still due
    waiting_until: timezone.datetime | None = None  # the first opening of sending hours messages wait for
    waiting_campaigns: set[int] = field(default_factory=set)  # whose messages wait for their sending hours

    def add(self, outcome: str, number: int = 1) -> None:
        self.counts[outcome] += number


def due_queued(queryset: QuerySet[OutboundMessage]) -> QuerySet[OutboundMessage]:
    """Queued messages whose (re)try time has come and that no worker has claimed."""
    now = timezone.now()
    return queryset.filter(status=Status.QUEUED, claim_token__isnull=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def held_for_retry(queryset: QuerySet[OutboundMessage], after) -> QuerySet[OutboundMessage]:
    """Queued messages no worker holds whose retry time comes after ``after``: a claim made then
    could not take them, so they need a job at their time."""
    return queryset.filter(status=Status.QUEUED, claim_token__isnull=True, next_attempt_at__gt=after)


def next_retry(queryset: QuerySet[OutboundMessage], after) -> timezone.datetime | None:
    """When the first of held_for_retry(queryset, after) comes due: its job's time.

    The first, not the last: a batch held back as late (LATE_RETRY, a fraction of a second) must
    not wait for the backoff of another message of the same job, nor for the reconciler."""
    return held_for_retry(queryset, after).order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()


def release_due(queryset: QuerySet[OutboundMessage]) -> int:
    """Scheduled single messages whose time has come join the queue (a rescheduled one waits on).

    Not a campaign's messages waiting for their sending hours: release_waiting does that, from the
    campaign's own dispatch job, which knows whether the campaign is running.
    """
    now = timezone.now()
    return queryset.filter(status=Status.SCHEDULED, send_at__lte=now, campaign__isnull=True).update(
        status=Status.QUEUED, next_attempt_at=None, updated_at=now
    )


RELEASE_SLICE = 20_000  # waiting messages a dispatch job moves to the queue at once


def waiting_due(campaign_id: int) -> QuerySet[OutboundMessage]:
    """A campaign's messages parked for their sending hours whose window has opened (msg_campaign_waiting)."""
    return OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.SCHEDULED, send_at__lte=timezone.now())


def release_waiting(campaign_id: int) -> int:
    """Move a slice of a campaign's messages whose sending hours have come back to its queue.

    A slice, so no statement holds a million rows; the dispatch job asks again once the queue is
    empty. Two jobs releasing at once are harmless: a row moves only while it is still scheduled.
    """
    now = timezone.now()
    due = waiting_due(campaign_id).order_by("send_at").values("pk")[:RELEASE_SLICE]
    return OutboundMessage.objects.filter(pk__in=due, status=Status.SCHEDULED).update(
        status=Status.QUEUED, next_attempt_at=None, updated_at=now
    )


def next_opening(campaign_id: int) -> timezone.datetime | None:
    """When the first of a campaign's messages waiting for their sending hours may go (msg_campaign_waiting)."""
    return (
        # Not an A/B test's rest (scheduled with no time until its winner is chosen).
        OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.SCHEDULED, send_at__isnull=False)
        .order_by("send_at")
        .values_list("send_at", flat=True)
        .first()
    )


def claim(queryset: QuerySet[OutboundMessage], limit: int) -> uuid.UUID | None:
    """Atomically mark up to ``limit`` due queued messages as ours; return the claim token.

    Two statements in one transaction: pick the ids (locking them, skipping rows another worker
    has locked, where the database can), then update those still queued. Not one UPDATE with a
    LIMIT subquery: PostgreSQL may run such a subquery more than once and update more rows than
    the limit.
    """
    token = uuid.uuid4()
    due = due_queued(queryset).order_by("id").values_list("id", flat=True)
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    with transaction.atomic():
        ids = list(due[:limit])
        if not ids:
            return None
        claimed = OutboundMessage.objects.filter(pk__in=ids, status=Status.QUEUED, claim_token__isnull=True).update(
            claim_token=token, claimed_at=timezone.now()
        )
    return token if claimed else None


def claim_limit(rates: Iterable[tuple[float]], sharers: int = 1, batch: int = 1) -> int:
    """How many messages to claim at once: what this worker's share of the slowest channel sends
    in CLAIM_SECONDS, so that no claim outlives its lease (SENDING_STALE_SECONDS) on a slow or
    shared channel and is taken for a dead worker's; otherwise SEND_CHUNK_SIZE, or a few of the
    provider's batches when they are larger (sendbulk takes 1,000 a request).
    """
    slowest = min((rate for (rate,) in rates), default=settings.SEND_CHUNK_SIZE)
    share = slowest / max(1, sharers)
    most = max(settings.SEND_CHUNK_SIZE, CLAIM_BATCHES * batch) if batch > 1 else settings.SEND_CHUNK_SIZE
    return int(max(1, min(most, share * CLAIM_SECONDS)))


def claims_on(channel_id: int) -> int:
    """How many claims are open on a channel now (its workers, give or take one)."""
    return (
        OutboundMessage.objects.filter(channel_id=channel_id, claim_token__isnull=False)
        .values("claim_token")
        .distinct()
        .count()
    )


def send_messages(message_ids: list[int], budget: float | None = None) -> SendSummary:
    """Send those of these messages that are still due and not claimed by another worker.

    Works in claims sized to the channels' rates; stops after ``budget`` seconds with
    ``summary.out_of_time`` set, leaving the rest queued for another job.
    """
    summary = SendSummary()
    mine = OutboundMessage.objects.filter(pk__in=message_ids)
    release_due(mine)
    limit = claim_limit(Channel.objects.filter(messages__in=mine).distinct().values_list("rate_limit"))
    deadline = None if budget is None else time.monotonic() + budget
    while True:
        summary.looked_at = timezone.now()
        token = claim(mine, limit=limit)
        if token is None:
            break
        send_claimed(token, summary)
        if deadline is not None and time.monotonic() > deadline:
            summary.looked_at = timezone.now()  # those due by now get a job at once (out_of_time)
            summary.out_of_time = due_queued(mine).exists()
            break
    return summary


def send_claimed(token: uuid.UUID, summary: SendSummary, give_way: Callable[[], bool] | None = None) -> None:
    """Send a claim's messages. ``give_way`` (a campaign's dispatch job) is asked every
    STOP_CHECK_SECONDS, like the campaign's status: when it says so, the rest goes back to the queue."""
    messages = claimed_messages(token)
    messages = _skip_opted_out(messages, token, summary)
    by_channel: dict[int, list[OutboundMessage]] = defaultdict(list)
    for message in messages:
        by_channel[message.channel_id].append(message)
    if by_channel:
        written.open_record(token)  # before any row of the claim is handed over
    for channel_messages in by_channel.values():
        _send_logged(channel_messages[0].channel, channel_messages, token, summary, give_way)
    if by_channel:
        # Every row of the claim is recorded or back in the queue. Not after an error: the reconciler
        # then reads the record to tell the rows whose requests may have left from the others.
        written.forget(token)


def _send_logged(
    channel: Channel, messages: list[OutboundMessage], token: uuid.UUID, summary: SendSummary, give_way=None
) -> None:
    """One claim's messages on one channel, with start and end log lines (claim token, counts, time),
    its outcomes added to the counters Prometheus reads."""
    campaigns = sorted({m.campaign_id for m in messages if m.campaign_id is not None})
    campaign = campaigns[0] if len(campaigns) == 1 else ",".join(map(str, campaigns)) or None
    fields = {"claim": str(token), "channel": channel.pk, "campaign": campaign}
    with job_log(log, "claim", **fields, messages=len(messages)) as outcome:
        before = dict(summary.counts)
        _send_on_channel(channel, messages, token, summary, give_way)
        outcome.update({key: n - before.get(key, 0) for key, n in summary.counts.items() if n != before.get(key, 0)})
    count_outcomes(channel.pk, outcome)  # the shared counters Prometheus reads (campaigns/reports/metrics.py)


def claimed_messages(token: uuid.UUID) -> list[OutboundMessage]:
    """The claim's rows with what rendering needs: each channel and campaign loaded once, not per row."""
    messages = list(
        OutboundMessage.objects.filter(claim_token=token, status=Status.QUEUED)
        .select_related("contact")
        .only(*MESSAGE_FIELDS, "contact__name", "contact__extra_fields")
    )
    channels = Channel.objects.in_bulk({m.channel_id for m in messages})
    campaigns = (
        Campaign.objects.select_related("template")
        .prefetch_related("variants__template")
        .in_bulk({m.campaign_id for m in messages} - {None})
    )
    for message in messages:
        message.channel = channels[message.channel_id]
        if message.campaign_id is not None:
            message.campaign = campaigns[message.campaign_id]
    return messages


MESSAGE_FIELDS = (
    "id", "to", "body", "media_urls", "template", "variables", "attempts", "channel_id", "campaign_id", "contact_id",
    "confirms_opt_out", "answers_help", "variant", "sent_template",
)  # fmt: skip


def _skip_opted_out(messages: list[OutboundMessage], token: uuid.UUID, summary: SendSummary) -> list[OutboundMessage]:
    """The send-time check: a number that got on the suppression list after its message was queued
    (a STOP after fan-out) is cancelled here, in the claim, before anything is sent."""
    opted_out = Suppression.numbers_among({m.to for m in messages if not _past_suppression(m)})
    if not opted_out:
        return messages
    # An opt-out's own confirmation goes to the number it has just suppressed (that is its point),
    # and a HELP's answer to a suppressed number (carriers expect HELP answered after STOP too).
    skipped = OutboundMessage.objects.filter(
        claim_token=token, status=Status.QUEUED, to__in=opted_out, confirms_opt_out=False, answers_help=False
    ).update(
        status=Status.CANCELLED,
        claim_token=None,
        error_code="opted_out",
        error_message="The number is on the suppression list (it opted out); nothing was sent.",
        updated_at=timezone.now(),
    )
    summary.add("opted_out", skipped)
    return [m for m in messages if m.to not in opted_out or _past_suppression(m)]


def _past_suppression(message: OutboundMessage) -> bool:
    """The keyword answers that may go to a suppressed number: the opt-out's confirmation, HELP's answer."""
    return message.confirms_opt_out or message.answers_help


def _send_on_channel(
    channel: Channel, messages: list[OutboundMessage], token: uuid.UUID, summary: SendSummary, give_way=None
) -> None:
    if not channel.can_send:
        _release(messages, token, delay=timedelta(seconds=settings.QUEUED_STALE_SECONDS))
        summary.add("channel_paused", len(messages))
        return
    provider = provider_for(channel)
    size = provider.batch_size()
    if hasattr(provider, "warm_up"):
        provider.warm_up()  # a first batch made late by start-up costs would crowd the next one's window
    stopped = CampaignStopCheck(messages, give_way)
    overlap = size >= OVERLAP_FROM_BATCH and len(messages) > size
    flight = InFlight(provider, token, summary, ahead=batches_ahead(size) if overlap else 1, stopped=stopped)
    for start in range(0, len(messages), size):
        batch = messages[start : start + size]
        if stopped() or flight.stopped_at_its_time:
            _give_back(flight, flight.stopped_at_its_time + messages[start:], stopped.gave_way)
            return
        try:
            flight.send(batch)
        except ChannelError as error:
            # The rest of the claim (and a batch the provider refused whole) go back to the queue.
            log.warning("channel %s paused: %s", channel.pk, error.reason)
            pause_channel(channel, error.reason)
            unsent = flight.refused + messages[start + size :]
            _release(unsent, token)
            summary.add("channel_paused", len(unsent))
            return
        flight.renew_if_due()
    if flight.stopped_at_its_time:  # the claim's last batch
        _give_back(flight, flight.stopped_at_its_time, stopped.gave_way)
        return
    try:
        flight.finish_all()
    except ChannelError as error:
        log.warning("channel %s paused: %s", channel.pk, error.reason)
        pause_channel(channel, error.reason)
        _release(flight.refused, token)
        summary.add("channel_paused", len(flight.refused))


def _give_back(flight: InFlight, unsent: list[OutboundMessage], gave_way: bool) -> None:
    """Paused or cancelled since the claim (or giving way): what has not gone yet goes back to the
    queue, not lost, not sent; what is out is recorded first."""
    with contextlib.suppress(ChannelError):  # a refusal now is for the next claim to meet
        flight.finish_all()
    _release(flight.refused + unsent, flight.token)
    flight.summary.add("gave_way" if gave_way else "campaign_stopped", len(unsent))


SEND_AHEAD_MOST = 8  # batches of one claim in flight at once: the next are prepared while some are out
# Below this batch size (a channel slower than ~50 msg/s) the rate limiter, not latency, sets the
# pace: batches go one at a time, and a pause stops the very next one.
OVERLAP_FROM_BATCH = 50


def batches_ahead(size: int) -> int:
    """How many batches of ``size`` one claim keeps in flight: as many as the process's requests
    in flight hold (small batches at a high rate need several to cover the provider's latency),
    at least two, so one is prepared while another is out."""
    return max(2, min(SEND_AHEAD_MOST, http.MAX_IN_FLIGHT // max(1, size)))


class InFlight:
    """Batches handed to the provider and not yet recorded, at most ``ahead`` of them.

    While one batch waits for the provider (in a helper thread; the requests themselves run on
    providers.http's event loop), this thread prepares the next (render, rate limiter, hand-over)
    and records the one before: the provider's latency and the database's overlap. A ChannelError
    of a batch is raised from ``send`` or ``finish_all`` once every batch in flight is recorded;
    ``refused`` then holds the batches that did not go (to go back to the queue).
    """

    def __init__(self, provider, token: uuid.UUID, summary: SendSummary, ahead: int, stopped=None):
        self.provider, self.token, self.summary, self.ahead = provider, token, summary, ahead
        self.pending: deque[tuple[list[OutboundMessage], list[SendResult], Future]] = deque()
        self.refused: list[OutboundMessage] = []  # batches the provider refused whole, or never handed over
        self.error: ChannelError | None = None
        self.stopped = stopped  # asked once more just before each booked time (CampaignStopCheck)
        self.stopped_at_its_time: list[OutboundMessage] = []  # a batch held back by a pause at its time
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        """The claim's heartbeat (LEASE_REFRESH_SECONDS): between batches, and while waiting for answers."""
        if time.monotonic() - self.renewed > LEASE_REFRESH_SECONDS:
            self.renewed = time.monotonic()
            renew_claim(self.token)

    def send(self, batch: list[OutboundMessage]) -> None:
        try:
            refused, outgoing, leave_by = _prepare_batch(
                self.provider, batch, self.token, self.summary, stopped=self.stopped, meanwhile=self.record_answered
            )
        except ChannelError as error:
            self._refuse(batch, error)
            self.finish_all()  # records what is out, then raises
        except CampaignStopped:
            self.stopped_at_its_time = batch  # still queued in the claim: it goes back with the rest
            return
        note = written.Record(self.token)
        if not outgoing:
            future = _sent_here(self.provider, outgoing, leave_by)
        else:
            # Even one batch at a time is sent from the pool: this thread keeps the claim's heartbeat
            # while it waits for the answers (up to the provider's timeouts).
            future = _send_pool().submit(_provider_send, self.provider, outgoing, leave_by, note)
        self.pending.append((batch, refused, future))
        while len(self.pending) >= self.ahead:
            self._finish_oldest()
        if self.error:
            self.finish_all()

    def record_answered(self) -> None:
        """Record the batches already answered, oldest first, without waiting for any: rows whose
        answers came are not left ``sending`` (in doubt, should the worker die) while this thread
        waits for the next batch's time."""
        while self.pending and self.pending[0][2].done():
            self._finish_oldest()

    def finish_all(self) -> None:
        while self.pending:
            self._finish_oldest()
        if self.error:
            raise self.error

    def _refuse(self, batch: list[OutboundMessage], error: ChannelError) -> None:
        self.refused.extend(batch)
        self.error = self.error or error

    def _finish_oldest(self) -> None:
        batch, results, future = self.pending.popleft()
        try:
            results = results + self._answers(future)
        except ChannelError as error:
            self._refuse(batch, error)  # raised once the batches still out are recorded
            return
        attempts = {m.pk: m.attempts + 1 for m in batch}
        record_outcomes(results, self.token, self.provider.deduplicates_by_our_id, self.summary, attempts)

    def _answers(self, future: Future) -> list[SendResult]:
        while True:
            try:
                return future.result(timeout=LEASE_REFRESH_SECONDS)
            except FutureTimeout:
                self.renew_if_due()


class CampaignStopped(Exception):
    """The claim's campaign was paused or cancelled just before a batch's booked time: it did not go."""


def _sent_here(provider, outgoing: list[OutgoingMessage], leave_by: float | None) -> Future:
    """Send in this thread (one batch: nothing to overlap), with the answer as a finished future."""
    future: Future = Future()
    try:
        future.set_result(_provider_send(provider, outgoing, leave_by) if outgoing else [])
    except ChannelError as error:
        future.set_exception(error)
    return future


@cache
def _pool_of(pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SEND_AHEAD_MOST, thread_name_prefix=f"send-ahead-{pid}")


def _send_pool() -> ThreadPoolExecutor:
    """Per process: a forked RQ work horse cannot use its parent's threads."""
    return _pool_of(os.getpid())


class CampaignStopCheck:
    """Whether the campaign of claimed messages was paused or cancelled; asks the database at most
    every STOP_CHECK_SECONDS, so a pause takes effect within seconds even in a long claim."""

    def __init__(self, messages: list[OutboundMessage], give_way: Callable[[], bool] | None = None) -> None:
        self.campaign_ids = {m.campaign_id for m in messages if m.campaign_id is not None}
        self.checked_at = time.monotonic()  # the claim itself was made for a running campaign
        self.give_way = give_way  # or more urgent work waits for this worker (see queueing.urgent_work_waiting)
        self.gave_way = False
        self.handed_over = False  # a batch of this claim has gone: it may give way at a booked time

    def __call__(self, fresh: bool = False, may_give_way: bool = True) -> bool:
        """``fresh``: ask the database now if the last answer is more than a moment old.
        ``may_give_way=False``: only a pause or a cancel stops it (a batch at its booked time)."""
        since = time.monotonic() - self.checked_at
        if not self.campaign_ids or since < (0.0 if fresh else STOP_CHECK_SECONDS):
            return False
        self.checked_at = time.monotonic()
        if may_give_way and self.give_way is not None and self.give_way():
            self.gave_way = True
            return True
        return Campaign.objects.filter(pk__in=self.campaign_ids).exclude(status=Campaign.Status.RUNNING).exists()


def cancel_back_in_queue_of_cancelled_campaigns(message_ids: list[int]) -> int:
    """Of these messages just put back in the queue (given back, refused, answered "try again"),
    cancel those whose campaign was cancelled meanwhile: no job of a cancelled campaign reads its
    queue, so they would stay queued for ever (the reconciler's cancel_left_behind is the net for
    a cancel that commits in between). An SMS fallback of a cancelled campaign too: a send job
    would send it on its retry."""
    cancelled = Q(campaign__status=Campaign.Status.CANCELLED) | Q(fallback_campaign__status=Campaign.Status.CANCELLED)
    return cancel_told(
        OutboundMessage.objects.filter(cancelled, pk__in=message_ids), status=Status.QUEUED, claim_token__isnull=True
    )


CAMPAIGN_CANCELLED = "The campaign was cancelled."


def cancel_told(scope: QuerySet, reason: str = CAMPAIGN_CANCELLED, **waiting: object) -> int:
    """Cancel the messages of ``scope`` that are ``waiting`` and record, in the same transaction,
    their message.failed (error_code cancelled), as the campaign's cancel did for those it took:
    a status_callback would otherwise wait for ever. They are the rows this update stamped with
    its own time and reason; no query more when there were none."""
    now = timezone.now()
    with transaction.atomic():
        cancelled = scope.filter(**waiting).update(status=Status.CANCELLED, error_message=reason, updated_at=now)
        if cancelled:
            stamped = scope.filter(status=Status.CANCELLED, updated_at=now, error_message=reason)
            record_cancellations(list(stamped.values_list("pk", flat=True)), reason)
    return cancelled


def renew_claim(token: uuid.UUID) -> None:
    """Tell the reconciler this claim's worker is alive: its rows, those not sent yet and the batch
    waiting for its answers, are still ours (and its campaign is being sent)."""
    now = timezone.now()
    rows = OutboundMessage.objects.filter(claim_token=token, status__in=(Status.QUEUED, Status.SENDING))
    rows.update(claimed_at=now)
    campaigns = rows.exclude(campaign_id=None).values("campaign_id").distinct()
    Campaign.objects.filter(pk__in=campaigns, status=Campaign.Status.RUNNING).update(updated_at=now)


def hand_over(
    token: uuid.UUID, ids: list[int], texts: dict[int, str] | None = None, templates: dict[int, dict] | None = None
) -> set[int]:
    """Move the batch about to be sent from claimed to ``sending``; the ids that are still ours.

    ``texts`` are the rendered texts of campaign messages, kept as their body in the same
    statement: the message log then shows what the recipient got, whatever later becomes of the
    template or the contact. One statement (a second only when some rows were taken from us:
    cancelled, or our lease expired; and one more for WhatsApp template messages: ``templates``,
    what each is sent with, kept as its sent_template). From here on a crash leaves these rows in
    doubt, and only these.
    """
    texts = texts or {}
    now = timezone.now()
    plain = [pk for pk in ids if pk not in texts] if texts else ids
    fields = {"status": Status.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    distinct = set(texts.values())
    if texts and len(distinct) == 1 and not plain:
        fields["body"], texts, plain = distinct.pop(), {}, ids  # one text for all (no placeholders): one plain UPDATE
    moved = _hand_over_with_texts(token, texts, now) if texts else 0
    if plain:
        moved += OutboundMessage.objects.filter(pk__in=plain, claim_token=token, status=Status.QUEUED).update(**fields)
    if templates:
        _keep_sent_templates(token, templates)
    if moved == len(ids):
        return set(ids)
    return set(
        OutboundMessage.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).values_list(
            "id", flat=True
        )
    )


def _hand_over_with_texts(token: uuid.UUID, texts: dict[int, str], now) -> int:
    """hand_over's UPDATE joined to the (id, text) pairs: one statement."""
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    return _update_joined(
        "body",
        texts,
        [f"status = %s, claimed_at = %s, attempts = {table}.attempts + 1"],
        [Status.SENDING.value, now],
        where=f"{table}.claim_token = %s AND {table}.status = %s",
        where_params=[_token_value(token), Status.QUEUED.value],
    )


def _keep_sent_templates(token: uuid.UUID, templates: dict[int, dict]) -> int:
    """Each template message's record of what it is sent with (id, name, values, preview): one statement."""
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    return _update_joined(
        "sent_template",
        {pk: json.dumps(record) for pk, record in templates.items()},
        [],
        [],
        where=f"{table}.claim_token = %s AND {table}.status = %s AND {table}.sent_template IS NULL",
        where_params=[_token_value(token), Status.SENDING.value],
        cast="jsonb",
    )


def _token_value(token: uuid.UUID) -> object:
    return OutboundMessage._meta.get_field("claim_token").get_db_prep_save(token, connection)


def _update_joined(
    column: str,
    values: dict[int, str],
    assignments: list[str],
    params: list,
    *,
    where: str,
    where_params: list,
    cast: str = "",
) -> int:
    """One UPDATE of the messages named in ``values`` (id -> text): each gets its own text in
    ``column``, all get ``assignments``, where ``where`` still holds. Returns the rows changed.
    ``cast``: PostgreSQL's type for the column when it is not text (jsonb).

    Joined to the (id, text) pairs rather than one UPDATE per row, or a CASE per row: on a fast
    channel these writes are most of the pipeline's cost.
    """
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    ids, texts = list(values), list(values.values())
    sets = ", ".join(
        [
            *assignments,
            f"{column} = v.value{'::' + cast if cast else ''}"
            if connection.vendor == "postgresql"
            else f"{column} = v.column2",
        ]
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # "id = ANY" as well as the join: the rows are then found by the primary key whatever
            # the planner believes of the table (its statistics lag behind a fan-out of a million
            # rows, and it would rather scan the table than trust the join).
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM unnest(%s::bigint[], %s::text[]) AS v(id, value) "  # noqa: S608 - names are ours, every value a parameter
                f"WHERE {table}.id = v.id AND {table}.id = ANY(%s::bigint[]) AND {where}",
                [*params, ids, texts, ids, *where_params],
            )
        else:  # SQLite 3.33+ (UPDATE ... FROM); its VALUES columns are column1, column2
            pairs = ", ".join(["(%s, %s)"] * len(ids))
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {pairs}) AS v WHERE {table}.id = v.column1 AND {where}",  # noqa: S608 - as above
                [*params, *(x for pair in zip(ids, texts, strict=True) for x in pair), *where_params],
            )
        return cursor.rowcount


def _prepare_batch(
    provider, batch: list[OutboundMessage], token: uuid.UUID, summary: SendSummary, *, stopped=None, meanwhile=None
) -> tuple[list[SendResult], list[OutgoingMessage], float | None]:
    """Park what is outside its sending hours, render, refuse what can never go, wait for the rate
    limiter, then hand the rest over (to ``sending``).

    Returns the refusals, the messages to give the provider (those still ours) and the time they
    must leave by (time.monotonic(); see ratelimit.take). Sending hours are checked here, per batch
    just before it goes, not once per claim: a claim lasts up to CLAIM_SECONDS, and its last batch
    must not go after the window has closed.
    """
    from providers.ratelimit import reserve, sleep_until

    results: list[SendResult] = []
    outgoing: list[OutgoingMessage] = []
    texts: dict[int, str] = {}  # campaign messages' rendered texts, kept as they go
    unrecorded: dict[int, int] = {}  # WhatsApp template messages to record what they are sent with: their channel
    synced = SyncedTemplates()
    links = LinkBatch()  # their URLs as tracked short links (campaigns/links/)
    for message in hold_outside_hours(batch, token, summary):
        rendered = links.shorten(message, render_message(message))
        try:
            provider.validate(rendered)
        except MessageRefused as refusal:
            results.append(SendResult(message.pk, Outcome.FAILED, error_code="refused", error_message=str(refusal)))
            continue
        outgoing.append(rendered)
        if message.campaign_id is not None and not message.body:
            texts[message.pk] = rendered.text
        if rendered.template and not message.sent_template:
            unrecorded[message.pk] = message.channel_id
    outgoing, texts = links.save(outgoing, texts)
    # Recorded once the links are saved: a code clash renames short links in the values too.
    templates = {m.id: synced.record(unrecorded[m.id], m.template) for m in outgoing if m.id in unrecorded}
    if not outgoing:
        return results, [], None
    missing = provider.missing_credentials()
    if missing:
        raise ChannelError(f"Missing credentials: {', '.join(missing)}.", code="missing_credentials")
    # The wait for the rate limiter first, then the hand-over: a row is ``sending`` only once its
    # request is about to be written, so a worker killed while it waited for its slot leaves these
    # rows queued in its claim (they go back to the queue), not ``unknown`` for a person to settle.
    # The booking is at least as far ahead as the last hand-overs took, and the hand-over's one
    # statement is made that long before the booked time, so it does not make the batch late; a
    # request that still cannot leave by its time is not sent (providers.http.leaving_by) and is
    # booked again shortly.
    lead = HAND_OVER_TIME.seconds
    due, leave_by = reserve(provider.channel, len(outgoing), lambda: _sent_lately(provider.channel.pk, token), lead)
    if hasattr(provider, "open_ahead") and due - time.monotonic() > OPEN_AHEAD_FROM_SECONDS:
        provider.open_ahead(len(outgoing))  # its requests then go on connections opened while it waits
    waited = due - time.monotonic() > STOP_CHECK_SECONDS
    if meanwhile is not None and due - time.monotonic() > 2 * lead:
        meanwhile()  # record what was answered while this batch waits for its time
    sleep_until(due - lead)
    with HAND_OVER_TIME.measured():
        # A claim gives way at a booked time only once it has sent a batch: one that gave its first
        # slot away would leave its successor to book after it, and two campaigns taking turns would
        # then push each other's slots ahead for ever without sending (the fairness bench saw it).
        if stopped is not None and waited and stopped(fresh=True, may_give_way=stopped.handed_over):
            # Paused while this batch waited for its time: asked again just before it (the slot is lost).
            raise CampaignStopped
        ours = hand_over(token, [m.id for m in outgoing], texts, templates)
        if stopped is not None:
            stopped.handed_over = True
    sleep_until(due)
    outgoing = [m for m in outgoing if m.id in ours]
    if not outgoing:
        return results, [], None
    return results, outgoing, leave_by


class SyncedTemplates:
    """The synced WhatsApp templates a batch sends, each looked up once (by channel and provider id)."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, str], object] = {}

    def record(self, channel_id: int, template: dict) -> dict:
        template_id = str(template.get("id") or "")
        key = (channel_id, template_id)
        if key not in self.known:
            self.known[key] = templates_by_id(channel_id, {template_id}).get(template_id)
        return sent_record(self.known[key], template)


# A batch booked at least this far ahead has its connections opened while it waits (a batch due
# sooner finds its predecessors' in the pool, or opens its own: handshakes begun at its very time
# would only compete with its requests).
OPEN_AHEAD_FROM_SECONDS = 0.1


class HandOverTime:
    """How long a hand-over's statement takes here lately (a moving average, capped): the pipeline
    starts it that long before the batch's booked time, so the batch still leaves on time."""

    MOST = (
        0.05  # never more ahead than this: rows in ``sending`` so long before their slot would be in doubt for nothing
    )

    def __init__(self) -> None:
        self.seconds = 0.01

    @contextlib.contextmanager
    def measured(self):
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            # Up at once after a slow one (a busy machine stays busy for a while), down slowly.
            self.seconds = min(self.MOST, max(took, 0.8 * self.seconds + 0.2 * took))


HAND_OVER_TIME = HandOverTime()


def hold_outside_hours(batch: list[OutboundMessage], token: uuid.UUID, summary: SendSummary) -> list[OutboundMessage]:
    """The batch less the messages whose recipient's sending hours are closed now.

    Those wait as ``scheduled`` for their window's next opening, out of the claim and out of the
    queue (one UPDATE per distinct opening), so they block no one and no worker loops over them;
    their campaign's dispatch job puts them back in the queue when the window opens. Only a
    running campaign's: a message a person resends in a finished or paused campaign (an unknown
    outcome) goes when they say, as no dispatch job of that campaign would ever release it.
    """
    now = timezone.now()
    openings: dict[timezone.datetime, list[int]] = defaultdict(list)
    ready: list[OutboundMessage] = []
    for message in batch:
        campaign = message.campaign if message.campaign_id is not None else None
        if campaign is None or campaign.window_start is None or campaign.window_end is None:
            ready.append(message)
            continue
        if campaign.status != Campaign.Status.RUNNING:
            ready.append(message)
            continue
        zones = sending_hours.zones_for(message.to) or (_zone_of_unknown_numbers(campaign),)
        opens = sending_hours.hours(campaign.window_start, campaign.window_end).opens_at(zones, now)
        if opens is None:
            ready.append(message)
        else:
            openings[opens].append(message.pk)
            summary.waiting_campaigns.add(campaign.pk)
    for opens, ids in openings.items():
        parked = OutboundMessage.objects.filter(pk__in=ids, claim_token=token, status=Status.QUEUED).update(
            status=Status.SCHEDULED, send_at=opens, claim_token=None, next_attempt_at=None, updated_at=now
        )
        summary.add("waiting_for_sending_hours", parked)
        summary.waiting_until = min(summary.waiting_until or opens, opens)
    return ready


def _zone_of_unknown_numbers(campaign: Campaign) -> str:
    """The zone of the staff member who created the campaign (TIME_ZONE if none): asked once a claim."""
    if not hasattr(campaign, "_zone_of_unknown_numbers"):
        chosen = StaffProfile.objects.filter(user_id=campaign.created_by_id).values_list("time_zone", flat=True)
        name = chosen.first() if campaign.created_by_id else None
        campaign._zone_of_unknown_numbers = name if name and sending_hours.is_zone(name) else settings.TIME_ZONE
    return campaign._zone_of_unknown_numbers


def _sent_lately(channel_id: int, token: uuid.UUID) -> bool:
    """Whether another claim handed over or sent anything on the channel in the last two windows."""
    from providers.ratelimit import WINDOW_SECONDS

    since = timezone.now() - timedelta(seconds=2 * WINDOW_SECONDS)
    recent = OutboundMessage.objects.filter(channel_id=channel_id)
    return (
        recent.filter(status=Status.SENT, updated_at__gte=since).exists()
        or recent.filter(status=Status.SENDING, claimed_at__gte=since).exclude(claim_token=token).exists()
    )


def _provider_send(
    provider, outgoing: list[OutgoingMessage], leave_by: float | None = None, note=None
) -> list[SendResult]:
    """The provider's results; an unexpected error makes the batch unknown (a ChannelError passes).

    A request that cannot leave by ``leave_by`` is not sent (see providers.http.leaving_by).

    ``note`` (a written.Record): each request is noted as written just before its first byte is
    (providers.http.noting_writes), where the provider sends a request per message; else the batch
    is noted as leaving now, at its booked time, just before the provider is called. Messages noted
    whose requests were then held back after all (late) are struck off again once their results
    are in. A request whose note is refused (the reconciler took its claim for a dead worker's) is
    not sent at all."""
    if note is not None and not provider.notes_each_request():
        try:
            noted = note.leaving([m.id for m in outgoing])
            reason = "Not sent: its claim was taken over (its worker seemed dead); it goes again."
        except RedisError as error:
            log.warning("batch not sent: it could not be noted as leaving: %r", error)
            noted, reason = False, "Not sent: it could not be noted as leaving (Redis unreachable); it goes again."
        if not noted:
            return [SendResult(m.id, Outcome.RETRY, error_code="not_sent", error_message=reason) for m in outgoing]
    with http.noting_writes(note if note is not None and provider.notes_each_request() else None):
        results = _provider_results(provider, outgoing, leave_by)
    if note is not None:
        note.not_written([r.message_id for r in results if r.outcome == Outcome.RETRY and r.error_code in NOT_WRITTEN])
    return results


NOT_WRITTEN = (LATE, "not_sent")  # the error codes of requests that never left (providers.base.unanswered)


def _provider_results(provider, outgoing: list[OutgoingMessage], leave_by: float | None) -> list[SendResult]:
    try:
        with http.leaving_by(leave_by):
            return provider.send_batch(outgoing)
    except ChannelError:
        raise
    except Exception as error:
        log.exception("provider %s raised while sending; outcome unknown", provider.code)
        reason = f"The provider call failed unexpectedly ({type(error).__name__}); it may or may not have been sent."
        return [SendResult(m.id, Outcome.UNKNOWN, error_message=reason) for m in outgoing]


def render_message(message: OutboundMessage) -> OutgoingMessage:
    """The message with this recipient's values put into its text and template variables.

    A campaign message's body is empty until it is first handed over, and then holds the text as
    rendered for that send (hand_over): a retry sends that same text again, not rendered anew.
    """
    campaign = message.campaign
    content = content_of(campaign, message.variant) if campaign else None  # its A/B variant's, if any
    text = message.body or (content.message_text() if content else "")
    media = message.media_urls or (content.message_media() if content else [])
    template = message.template or (content.message_provider_template() if content else None)
    context = personalisation_context(message)
    if message.sent_template:  # handed over before: the same template and values again
        template = {"id": message.sent_template["id"], "variables": message.sent_template["variables"]}
    elif template and template.get("variables"):
        template = {**template, "variables": _render_values(template["variables"], context)}
    kept = campaign is not None and bool(message.body)
    return OutgoingMessage(
        id=message.pk,
        to=message.to,
        text=text if kept else render(text, context),
        media_urls=tuple(media),
        template=template,
    )


def personalisation_context(message: OutboundMessage) -> dict[str, object]:
    contact = message.contact
    context: dict[str, object] = {"phone": message.to}
    if contact is not None:
        context.update(contact.extra_fields or {})
        context["name"] = contact.name
    context.update(message.variables or {})
    name = str(context.get("name") or "")
    context.setdefault("first_name", name.split(" ", maxsplit=1)[0] if name else "")
    return context


def _render_values(values: object, context: dict[str, object]) -> object:
    if isinstance(values, dict):
        return {key: _render_values(value, context) for key, value in values.items()}
    if isinstance(values, str):
        return render(values, context)
    return values


def record_outcomes(
    results: list[SendResult],
    token: uuid.UUID,
    provider_deduplicates: bool,
    summary: SendSummary,
    attempts: dict[int, int],
) -> None:
    """Write every result in a few statements, only onto rows we still hold.

    Rows that end the same way (same state, error and retry time) share one UPDATE; only the
    provider's ids differ row by row, set by one more UPDATE joined to the (id, provider id)
    pairs. Django's bulk_update (or a CASE per row) costs more than the provider call on fast
    channels: building a When per row takes longer than the HTTP request it records.
    """
    now = timezone.now()
    delays: dict[tuple[float | None, int], timedelta] = {}  # one jittered delay per kind of retry in a batch
    groups: dict[tuple, dict[int, str]] = defaultdict(dict)
    for result in results:
        outcome = result.outcome
        if outcome == Outcome.UNKNOWN and provider_deduplicates:
            outcome = Outcome.RETRY  # the provider drops repeats of our id, so resending is safe
        tries = attempts.get(result.message_id, 1)
        change = _outcome_change(result, outcome, tries, now, delays)
        groups[tuple(sorted(change.items()))][result.message_id] = result.provider_message_id
        summary.add(change["status"])
    opted_out = {r.message_id for r in results if r.opted_out}
    # The outcomes, their events (campaigns/events/) and the opt-outs a provider reported commit
    # together: a worker stopped in between loses no opt-out.
    with transaction.atomic():
        _write_outcomes(groups, token, now, opted_out)
        if opted_out:
            _opt_out_recipients(sorted(opted_out))


def _write_outcomes(groups: dict[tuple, dict[int, str]], token: uuid.UUID, now, opted_out: set[int]) -> None:
    held = OutboundMessage.objects.filter(claim_token=token, status__in=(Status.QUEUED, Status.SENDING))
    told: dict[str, list[int]] = defaultdict(list)
    ending = _ending(groups)
    # Read (and locked) before the UPDATEs: exactly the rows they will move, for the analytics tallies.
    moving = held.filter(pk__in=list(ending)).select_for_update().order_by("pk")
    moving = list(moving.values_list("pk", "campaign_id", "channel_id", "to", "body", "variant")) if ending else []
    for change, provider_ids in groups.items():
        fields = dict(change)
        uncounted = fields.pop("uncounted", False)
        distinct = set(provider_ids.values())
        if len(distinct) > 1:
            _update_with_provider_ids(provider_ids, token, {**fields, "updated_at": now}, uncounted=uncounted)
            continue
        if uncounted:
            fields["attempts"] = F("attempts") - 1  # the provider asked us to slow down: not a failed try
        fields["provider_message_id"] = distinct.pop()
        held.filter(pk__in=list(provider_ids)).update(**fields, claim_token=None, updated_at=now)
    for change, provider_ids in groups.items():
        status = dict(change)["status"]
        if status in (Status.SENT, Status.FAILED):
            told[status] += list(provider_ids)
        elif status == Status.QUEUED:
            cancel_back_in_queue_of_cancelled_campaigns(list(provider_ids))
    for status, ids in told.items():
        record_message_events(ids, status)
    tally_sends(moving, ending, now, opted_out)  # a provider's "unsubscribed": failed, and opted out
    # WhatsApp refusing a recipient at hand-over as not on WhatsApp (Twilio 63024...): the SMS
    # fallback, as for the same failure in a receipt, committed with the failure (campaigns/whatsapp/).
    after_failures([row[0] for row in moving if ending[row[0]][0] == Status.FAILED])


def _ending(groups: dict[tuple, dict[int, str]]) -> dict[int, tuple[str, str, str]]:
    """The messages these outcomes end (sent or failed): id -> (status, error code, error message)."""
    ending = {}
    for change, provider_ids in groups.items():
        fields = dict(change)
        if fields["status"] in (Status.SENT, Status.FAILED):
            outcome = (fields["status"], fields["error_code"], fields["error_message"])
            ending.update(dict.fromkeys(provider_ids, outcome))
    return ending


def _update_with_provider_ids(
    provider_ids: dict[int, str], token: uuid.UUID, fields: dict[str, object], *, uncounted: bool
) -> None:
    """One UPDATE for rows that end the same way but each with its own provider id, only on rows
    this claim still holds, releasing the claim (not the outcome and then the ids: every UPDATE
    of a row rewrites it and all its index entries)."""
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    assignments, params = [], []
    for name, value in fields.items():
        field = OutboundMessage._meta.get_field(name)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if uncounted:
        assignments.append("attempts = attempts - 1")  # the provider asked us to slow down: not a failed try
    assignments.append("claim_token = NULL")
    _update_joined(
        "provider_message_id",
        {pk: value[:100] for pk, value in provider_ids.items()},
        assignments,
        params,
        where=f"{table}.claim_token = %s AND {table}.status IN (%s, %s)",
        where_params=[_token_value(token), Status.QUEUED, Status.SENDING],
    )


def _outcome_change(
    result: SendResult, outcome: Outcome, attempts: int, now, delays: dict[tuple[float | None, int], timedelta]
) -> dict[str, object]:
    """The fields an outcome sets on its message (besides the provider's id)."""
    change: dict[str, object] = {
        "error_code": result.error_code[:32],
        "error_message": result.error_message,
        "sent_at": None,
        "next_attempt_at": None,
    }
    if outcome == Outcome.ACCEPTED:
        change.update(status=Status.SENT, sent_at=now)
    elif outcome == Outcome.FAILED:
        change["status"] = Status.FAILED
    elif outcome == Outcome.UNKNOWN:
        change["status"] = Status.UNKNOWN
    elif result.throttled and result.error_code == LATE:
        # Held back by us, not the provider (it could not leave by its booked time): a later claim
        # books it a new time in a moment, not after a backoff.
        change.update(status=Status.QUEUED, next_attempt_at=now + LATE_RETRY, uncounted=True)
    elif result.throttled:
        # Throttling (429) says nothing about the message: wait as asked, and do not count the try.
        key = (result.retry_after, 0)
        if key not in delays:
            delays[key] = timedelta(seconds=max(result.retry_after or 1.0, 1.0) * random.uniform(1.0, 1.5))
        change.update(status=Status.QUEUED, next_attempt_at=now + delays[key], uncounted=True)
    elif attempts >= settings.SEND_MAX_ATTEMPTS:
        change["status"] = Status.FAILED
        change["error_message"] = f"Gave up after {attempts} attempts. Last answer: {result.error_message}"
    else:
        key = (result.retry_after, attempts)
        if key not in delays:
            delays[key] = retry_delay(result.retry_after, attempts)
        change.update(status=Status.QUEUED, next_attempt_at=now + delays[key])
    return change


LATE_RETRY = timedelta(seconds=0.25)  # not at once: a machine too busy to send on time would loop
RETRY_DELAY_CAP_SECONDS = 600.0  # eight attempts then span about half an hour, not two hours


def retry_delay(retry_after: float | None, attempts: int) -> timedelta:
    """Exponential backoff with full jitter (at most ten minutes), never sooner than the provider asked."""
    base = min(settings.SEND_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1)), RETRY_DELAY_CAP_SECONDS)
    delay = random.uniform(base / 2, base)
    return timedelta(seconds=max(delay, retry_after or 0.0))


def _release(messages: list[OutboundMessage], token: uuid.UUID, delay: timedelta | None = None) -> None:
    """Put claimed messages back in the queue untouched, as if never claimed."""
    ours = OutboundMessage.objects.filter(pk__in=[m.pk for m in messages], claim_token=token)
    next_attempt_at = timezone.now() + delay if delay else None
    # The batch handed over when the provider refused the channel: its try does not count.
    ours.filter(status=Status.SENDING).update(
        status=Status.QUEUED, claim_token=None, attempts=F("attempts") - 1, next_attempt_at=next_attempt_at
    )
    ours.filter(status=Status.QUEUED).update(claim_token=None, next_attempt_at=next_attempt_at)
    cancel_back_in_queue_of_cancelled_campaigns([m.pk for m in messages])


def _opt_out_recipients(message_ids: list[int]) -> None:
    """The numbers a provider refused as unsubscribed (Twilio's 21610) on the suppression list, in the
    caller's transaction (the outcomes'): on the list, and contact.opted_out recorded, together."""
    sent = OutboundMessage.objects.filter(pk__in=message_ids).values_list("to", "channel__name").distinct()
    for phone, channel in sent:
        reason = "The provider reported the recipient unsubscribed."
        if Contact.opt_out_phone(phone, reason, source=Suppression.Source.PROVIDER, channel=channel):
            record_opt_outs([phone], source=Suppression.Source.PROVIDER, reason=reason, channel=channel)


def pause_channel(channel: Channel, reason: str) -> None:
    """Stop sending on a channel until staff fix it; staff read the reason in the admin."""
    Channel.objects.filter(pk=channel.pk, paused_at__isnull=True).update(
        paused_at=timezone.now(), paused_reason=reason[:300]
    )
    channel.paused_at = channel.paused_at or timezone.now()
    channel.paused_reason = reason[:300]
    Campaign.pause_for_channel(channel, reason)

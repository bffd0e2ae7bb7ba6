"""Putting send work on the RQ queue: always after the database commit, always many ids a job."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import cache

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# Four queues, and workers listen to them in this order (`rqworker high receiving default events`): single
# and API messages and the reconciler never wait behind a campaign's long dispatch jobs, nor do
# receipts (whose job hands over as soon as it is idle and other work waits).
QUEUE_NAME = "high"  # single and API messages, the reconciler
RECEIVING_QUEUE = "receiving"  # receipts and replies the webhooks took (campaigns/receiving/)
CAMPAIGN_QUEUE = "default"  # campaign fan-out and dispatch
EVENTS_QUEUE = "events"  # event webhooks to customers' systems (campaigns/events/): only when no send waits
WORKER_QUEUES = (QUEUE_NAME, RECEIVING_QUEUE, CAMPAIGN_QUEUE, EVENTS_QUEUE)


def urgent_work_waiting() -> bool:
    """Whether a job is waiting on the ``high`` queue (a single or API message, the reconciler).

    A worker only picks its next job when the one it runs returns, so a campaign's dispatch job
    asks this between claims and every second within one, and gives way: it puts what it has not
    sent back and hands over to a fresh dispatch job at the back of its queue (campaigns/pipeline/jobs.py).
    """
    from rq import Queue

    try:
        return bool(connection().llen(f"{Queue.redis_queue_namespace_prefix}{QUEUE_NAME}"))
    except RedisError:
        return False  # Redis away: nothing can be waiting there either


FAIR_TURN_SECONDS = 1.0  # a campaign's job hands its worker over after this long when another campaign's work waits
PEEK_JOBS = 100  # the head of the campaign queue a turn looks at for other work


def other_campaign_work_waiting(campaign_id: int) -> bool:
    """Whether a job that is not this campaign's own waits on the campaign queue (``default``).

    RQ's queue is a FIFO list of job ids, and a worker runs one job to its end: a fan-out of
    10,000 recipients or a dispatch job sending for its whole budget would keep every job behind
    it waiting, another API key's 1-recipient job on an idle channel included. A campaign's jobs
    carry its id in their job id (campaign_job_id), so this reads only the list's head, no job.
    """
    from rq import Queue

    mine = f"campaign-{campaign_id}-"
    try:
        head = connection().lrange(f"{Queue.redis_queue_namespace_prefix}{CAMPAIGN_QUEUE}", 0, PEEK_JOBS - 1)
    except RedisError:
        return False  # Redis away: nothing can be waiting there either
    return any(not job_id.decode().startswith(mine) for job_id in head)


class Turn:
    """A campaign job's turn on its worker: over at once when a single or API message (or the
    reconciler) waits on ``high``, and after FAIR_TURN_SECONDS when another campaign's job waits
    on ``default``. The job then hands over to a fresh one of its own at the back of the queue, so
    the campaign queue goes round-robin between campaigns and bulk jobs (one turn each) instead of
    first come, first served to the end."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        self.ends = time.monotonic() + FAIR_TURN_SECONDS

    def over(self) -> bool:
        if urgent_work_waiting():
            return True
        return time.monotonic() >= self.ends and other_campaign_work_waiting(self.campaign_id)


def campaign_job_id(campaign_id: int, kind: str) -> str:
    """An RQ job id naming the campaign it works for (see other_campaign_work_waiting)."""
    return f"campaign-{campaign_id}-{kind}-{uuid.uuid4().hex[:12]}"


def chunked(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for item in ids:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@cache
def connection() -> Redis:
    """One Redis client (and connection pool) per process: django_rq makes a new one per call,
    which costs milliseconds per API request. The pool reconnects by itself after a fork."""
    return django_rq.get_connection(QUEUE_NAME)


def _queue(name: str = QUEUE_NAME):
    # commit_mode "auto" because every call below already waits for the commit itself.
    return django_rq.get_queue(name, commit_mode="auto", connection=connection())


def enqueue_after_commit(
    func: Callable,
    calls: list[tuple],
    at: datetime | None = None,
    queue_name: str = QUEUE_NAME,
    job_id: str | Callable[[], str] = "",
    *,
    kwargs: dict | None = None,
) -> None:
    """Enqueue ``func(*args, **kwargs)`` for each args in ``calls`` once the transaction commits
    (now or at ``at``). ``job_id``: a fixed id, or a function making one per job.

    If Redis is down then, the work is already safe in the database: the reconciler gives it a
    job later. So the failure is logged, never raised: an error answered after the commit would
    make a client send again what was saved.
    """

    def enqueue() -> None:
        try:
            queue = _queue(queue_name)
            for args in calls:
                options = {"job_id": job_id() if callable(job_id) else job_id} if job_id else {}
                if at is None:
                    queue.enqueue(func, args=args, kwargs=kwargs or {}, **options)
                else:
                    queue.enqueue_at(at, func, args=args, kwargs=kwargs or {}, **options)
        except RedisError:
            log.warning("%s not enqueued (Redis unavailable); the reconciler will retry", func.__name__, exc_info=True)

    if calls:
        transaction.on_commit(enqueue)


def enqueue_send(message_ids: Iterable[int], at: datetime | None = None) -> None:
    """Ask a worker to send these messages, once the current transaction commits.

    With ``at`` the job waits in RQ's scheduled registry until then; the reconciler is the
    safety net if Redis loses it.
    """
    from campaigns.pipeline.jobs import send_messages_job

    enqueue_after_commit(send_messages_job, [(chunk,) for chunk in chunked(message_ids, settings.SEND_CHUNK_SIZE)], at)


MAX_PARALLEL_DISPATCH = 4  # dispatch jobs per campaign: as many workers as may share it


def enqueue_dispatch(campaign_id: int, at: datetime | None = None, parallel: int | None = None) -> None:
    """Ask ``parallel`` workers to send a running campaign's queued messages, after the commit.

    By default as many as the launch gave it (up to MAX_PARALLEL_DISPATCH, fewer for a small
    campaign), so a resumed or recovered campaign runs at full speed again, not on one job.
    """
    from campaigns.pipeline.jobs import dispatch_campaign_job

    if parallel is None:
        parallel = dispatch_parallelism(campaign_id)
    job_id = lambda: campaign_job_id(campaign_id, "dispatch")  # noqa: E731
    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)] * parallel, at, CAMPAIGN_QUEUE, job_id)


def enqueue_dispatch_at_opening(campaign_id: int, at: datetime) -> None:
    """One dispatch job for when a campaign's sending hours open for some of its recipients.

    Its id names the campaign and the moment, so the several jobs of a campaign that each parked
    messages for the same opening leave one job waiting in RQ, not one each.
    """
    from campaigns.pipeline.jobs import dispatch_campaign_job

    job_id = f"campaign-{campaign_id}-hours-{int(at.timestamp())}"
    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)], at, queue_name=CAMPAIGN_QUEUE, job_id=job_id)


def enqueue_dispatch_at_retry(campaign_id: int, at: datetime) -> None:
    """One dispatch job for when a campaign's first message waiting for a retry comes due.

    Its id names the campaign and the moment (to the microsecond: the next retry a job books is
    always later than its own), so the campaign's parallel jobs that each find the same first
    retry leave one job waiting in RQ, not one each.
    """
    from campaigns.pipeline.jobs import dispatch_campaign_job

    job_id = f"campaign-{campaign_id}-retry-{round(at.timestamp() * 1_000_000)}"
    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)], at, queue_name=CAMPAIGN_QUEUE, job_id=job_id)


# RQ's scheduler moves due jobs to their queue every second; a job due this long ago was not moved:
# its lock is still held by a worker killed mid-run (RQ's lock outlives its holder by up to 61 s).
OVERDUE_SECONDS = 10


def enqueue_overdue_scheduled(overdue_seconds: float = OVERDUE_SECONDS) -> int:
    """Move to their queues the scheduled jobs due more than ``overdue_seconds`` ago; how many.

    A dispatch job booked for a campaign's next retry (held back as late, struck off unsent) would
    otherwise wait for the dead worker's scheduler lock to expire, then for the reconciler's
    stalled-campaign net. Each job is moved by whoever removes it from the registry first; should
    RQ's scheduler wake and move the same job at that moment, it runs twice, which a dispatch or
    send job may (its claim lets only one of them send a message).
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    moved = 0
    cutoff = int(time.time() - overdue_seconds)
    try:
        for name in WORKER_QUEUES:
            queue = _queue(name)
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_jobs_to_schedule(cutoff):
                if not registry.remove(job_id):
                    continue  # moved by the scheduler meanwhile
                try:
                    job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
                except NoSuchJobError:
                    continue  # expired or deleted: nothing to run
                queue.enqueue_job(job, at_front=job.should_enqueue_at_front())
                moved += 1
    except RedisError:
        log.warning("overdue scheduled jobs not moved (Redis unavailable); the next run tries again", exc_info=True)
    if moved:
        log.info("%d scheduled job(s) overdue by more than %s s moved to their queues", moved, overdue_seconds)
    return moved


def dispatch_parallelism(campaign_id: int) -> int:
    """One dispatch job per chunk of queued messages, at most MAX_PARALLEL_DISPATCH."""
    from campaigns.models import OutboundMessage

    queued = OutboundMessage.objects.filter(campaign_id=campaign_id, status=OutboundMessage.Status.QUEUED)
    # Counting stops at what would change the answer: cheap on a million-row campaign.
    enough = settings.SEND_CHUNK_SIZE * MAX_PARALLEL_DISPATCH
    return parallel_for(queued[:enough].count())


def parallel_for(messages: int) -> int:
    """Dispatch jobs for a campaign of this many queued messages: one per chunk, at most
    MAX_PARALLEL_DISPATCH, and no more than there are workers on the campaign queue to run them
    (a job no worker can run yet would only stand in line before other campaigns' work)."""
    chunks = max(1, -(-messages // settings.SEND_CHUNK_SIZE))
    return max(1, min(MAX_PARALLEL_DISPATCH, chunks, campaign_workers() or MAX_PARALLEL_DISPATCH))


def campaign_workers() -> int:
    """How many workers listen to the campaign queue (0 when none has started, or Redis is away)."""
    from rq import Queue, Worker

    try:
        return Worker.count(queue=Queue(CAMPAIGN_QUEUE, connection=connection()))
    except RedisError:
        return 0

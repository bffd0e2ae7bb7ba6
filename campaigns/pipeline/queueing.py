"""Putting send work on the RQ queue: always after the database commit, always many ids a job."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import cache

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# Two queues, and workers listen to the first before the second (`rqworker high default`): single
# and API messages and the reconciler never wait behind a campaign's long dispatch jobs.
QUEUE_NAME = "high"  # single and API messages, the reconciler
CAMPAIGN_QUEUE = "default"  # campaign fan-out and dispatch
WORKER_QUEUES = (QUEUE_NAME, CAMPAIGN_QUEUE)


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
    func: Callable, calls: list[tuple], at: datetime | None = None, queue_name: str = QUEUE_NAME, job_id: str = ""
) -> None:
    """Enqueue ``func(*args)`` for each args in ``calls`` once the transaction commits (now or at ``at``).

    If Redis is down then, the work is already safe in the database: the reconciler gives it a
    job later. So the failure is logged, never raised: an error answered after the commit would
    make a client send again what was saved.
    """

    def enqueue() -> None:
        try:
            queue = _queue(queue_name)
            options = {"job_id": job_id} if job_id else {}
            for args in calls:
                if at is None:
                    queue.enqueue(func, *args, **options)
                else:
                    queue.enqueue_at(at, func, *args, **options)
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
    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)] * parallel, at, queue_name=CAMPAIGN_QUEUE)


def enqueue_dispatch_at_opening(campaign_id: int, at: datetime) -> None:
    """One dispatch job for when a campaign's sending hours open for some of its recipients.

    Its id names the campaign and the moment, so the several jobs of a campaign that each parked
    messages for the same opening leave one job waiting in RQ, not one each.
    """
    from campaigns.pipeline.jobs import dispatch_campaign_job

    job_id = f"campaign-{campaign_id}-hours-{int(at.timestamp())}"
    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)], at, queue_name=CAMPAIGN_QUEUE, job_id=job_id)


def dispatch_parallelism(campaign_id: int) -> int:
    """One dispatch job per chunk of queued messages, at most MAX_PARALLEL_DISPATCH."""
    from campaigns.models import OutboundMessage

    queued = OutboundMessage.objects.filter(campaign_id=campaign_id, status=OutboundMessage.Status.QUEUED)
    # Counting stops at what would change the answer: cheap on a million-row campaign.
    enough = settings.SEND_CHUNK_SIZE * MAX_PARALLEL_DISPATCH
    count = queued[:enough].count()
    return max(1, min(MAX_PARALLEL_DISPATCH, -(-count // settings.SEND_CHUNK_SIZE)))

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
QUEUE_NAME = "default"


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


def _queue():
    # commit_mode "auto" because every call below already waits for the commit itself.
    return django_rq.get_queue(QUEUE_NAME, commit_mode="auto", connection=connection())


def enqueue_after_commit(func: Callable, calls: list[tuple], at: datetime | None = None) -> None:
    """Enqueue ``func(*args)`` for each args in ``calls`` once the transaction commits (now or at ``at``).

    If Redis is down then, the work is already safe in the database: the reconciler gives it a
    job later. So the failure is logged, never raised: an error answered after the commit would
    make a client send again what was saved.
    """

    def enqueue() -> None:
        try:
            queue = _queue()
            for args in calls:
                if at is None:
                    queue.enqueue(func, *args)
                else:
                    queue.enqueue_at(at, func, *args)
        except RedisError:
            log.warning("%s not enqueued (Redis unavailable); the reconciler will retry", func.__name__, exc_info=True)

    if calls:
        transaction.on_commit(enqueue)


def enqueue_send(message_ids: Iterable[int], at: datetime | None = None) -> None:
    """Ask a worker to send these messages, once the current transaction commits.

    With ``at`` the job waits in RQ's scheduled registry until then; the reconciler is the
    safety net if Redis loses it.
    """
    from campaigns.jobs import send_messages_job

    enqueue_after_commit(send_messages_job, [(chunk,) for chunk in chunked(message_ids, settings.SEND_CHUNK_SIZE)], at)


def enqueue_dispatch(campaign_id: int, at: datetime | None = None, parallel: int = 1) -> None:
    """Ask ``parallel`` workers to send a running campaign's queued messages, after the commit."""
    from campaigns.jobs import dispatch_campaign_job

    enqueue_after_commit(dispatch_campaign_job, [(campaign_id,)] * parallel, at)

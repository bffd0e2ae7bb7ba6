"""Messages accepted by POST /message go out in shared batches, not one RQ job each.

An RQ job costs far more than a message (a fork per job in a forking worker, several Redis
writes to enqueue), so at hundreds of API requests a second a job per message would swamp both
the web workers and the send workers. Instead each accepted message id is pushed onto a Redis
list, and a drain job is enqueued only when none is pending; the drain job sends the list's ids
a chunk at a time until it is empty.

Losing Redis loses nothing: the messages are queued in the database, and the reconciler gives
queued messages that nobody picked up a new job (campaigns/pipeline/jobs.py requeue_lost_queued).
"""

from __future__ import annotations

import hashlib
import logging
import time

import django_rq
from django.conf import settings
from django.db import transaction
from redis.exceptions import NoScriptError, RedisError

from campaigns.pipeline.queueing import QUEUE_NAME, connection
from messaging_site.logs import logged_job

log = logging.getLogger(__name__)

PENDING = "api:pending-messages"
DRAIN_PENDING = "api:drain-pending"
# A drain job that died without clearing its flag blocks new drain jobs only this long.
DRAIN_FLAG_SECONDS = 30
# The id onto the list, and the flag set unless it is: whether a drain job must be enqueued. One
# command, where a pipeline of two cost a POST /message a tenth of its CPU (bench/receipts.py).
PUSH = """
redis.call('RPUSH', KEYS[1], ARGV[1])
return redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[2])
"""
PUSH_SHA = hashlib.sha1(PUSH.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


def send_soon(message_id: int) -> None:
    """After the commit, put the message on the shared list and make sure a drain job is coming."""

    def push() -> None:
        try:
            if pushed_first(message_id):
                django_rq.get_queue(QUEUE_NAME, commit_mode="auto", connection=connection()).enqueue(drain_job)
        except RedisError:
            # The message is saved and queued: the reconciler will give it a job.
            log.warning("message %s saved but not handed to a worker: Redis unavailable", message_id, exc_info=True)

    transaction.on_commit(push)


def pushed_first(message_id: int) -> bool:
    """Push the id; True when no drain job was pending (the flag was not set)."""
    redis = connection()
    args = (2, PENDING, DRAIN_PENDING, message_id, DRAIN_FLAG_SECONDS)
    try:
        return bool(redis.evalsha(PUSH_SHA, *args))
    except NoScriptError:  # a Redis restarted, or a new one, has not seen the script yet
        return bool(redis.eval(PUSH, *args))


@logged_job("drain_api_messages")
def drain_job() -> int:
    """Send the listed messages a chunk at a time until the list stays empty; returns how many ids."""
    from campaigns.pipeline.jobs import send_messages_job

    redis = connection()
    drained = 0
    deadline = time.monotonic() + settings.SEND_JOB_BUDGET_SECONDS
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # A steady stream would keep one job going past RQ's timeout: hand over to a fresh one.
            redis.set(DRAIN_PENDING, 1, ex=DRAIN_FLAG_SECONDS)
            django_rq.get_queue(QUEUE_NAME, commit_mode="auto", connection=redis).enqueue(drain_job)
            return drained
        ids = redis.lpop(PENDING, settings.SEND_CHUNK_SIZE)
        if not ids:
            # Clear the flag, then look once more: an id pushed before the flag went is taken
            # here, one pushed after it sets the flag again and brings its own drain job.
            redis.delete(DRAIN_PENDING)
            ids = redis.lpop(PENDING, settings.SEND_CHUNK_SIZE)
            if not ids:
                return drained
            redis.set(DRAIN_PENDING, 1, ex=DRAIN_FLAG_SECONDS)
        else:
            redis.expire(DRAIN_PENDING, DRAIN_FLAG_SECONDS)
        send_messages_job([int(message_id) for message_id in ids], budget=remaining)
        drained += len(ids)

"""The events workers' jobs, on a queue of their own listened to after sending's (`rqworker high
default events`): a worker takes event deliveries only when no send waits, and a delivery job
gives its worker back as soon as one does."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from campaigns.events import delivery
from campaigns.models import WebhookAttempt, WebhookEvent
from campaigns.pipeline.queueing import EVENTS_QUEUE
from messaging_site.logs import logged_job

log = logging.getLogger(__name__)
KICK_KEY = "events:delivery-kick"


def sending_waits() -> bool:
    """Whether a send, a campaign's job or the reconciler waits for a worker."""
    from rq import Queue

    from campaigns.pipeline.queueing import CAMPAIGN_QUEUE, QUEUE_NAME, connection

    try:
        pipe = connection().pipeline()
        for name in (QUEUE_NAME, CAMPAIGN_QUEUE):
            pipe.llen(f"{Queue.redis_queue_namespace_prefix}{name}")
        return any(pipe.execute())
    except RedisError:
        return False


@logged_job("deliver_events")
def deliver_events_job() -> dict[str, int]:
    """Deliver due events for a while; hand over to a fresh job if more are due."""
    summary = delivery.deliver_due(settings.WEBHOOK_JOB_BUDGET_SECONDS, give_way=sending_waits)
    if summary["batches"] and delivery.due_events(timezone.now()).exists():
        enqueue_delivery()
    return summary


def enqueue_delivery() -> None:
    from campaigns.pipeline.queueing import enqueue_after_commit

    enqueue_after_commit(deliver_events_job, [()], queue_name=EVENTS_QUEUE)


def deliver_soon() -> None:
    """A delivery job once the transaction commits, at most one a second however many batches of
    events are recorded (the running job takes every due event; the scheduler's tick is the safety net)."""
    from campaigns.pipeline.queueing import connection

    try:
        if not connection().set(KICK_KEY, 1, nx=True, px=1000):
            return
    except RedisError:
        return  # the rows are safe; the tick enqueues a job when Redis is back
    enqueue_delivery()


@logged_job("events_tick")
def tick() -> dict[str, int]:
    """The scheduler's safety net (messaging_site/cron.py): a delivery job when events are due and
    none waits, so a Redis flush or a killed worker never leaves events behind."""
    from rq import Queue

    from campaigns.pipeline.queueing import connection

    due = delivery.due_events(timezone.now()).exists()
    waiting = connection().llen(f"{Queue.redis_queue_namespace_prefix}{EVENTS_QUEUE}")
    if due and not waiting:
        enqueue_delivery()
    return {"due": int(due), "jobs_waiting": waiting}


@logged_job("forget_old_events")
def forget_old_events() -> dict[str, int]:
    """Delivered and given-up events, and attempts, older than WEBHOOK_KEEP_DAYS (in chunks)."""
    before = timezone.now() - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    attempts = _delete_in_chunks(WebhookAttempt.objects.filter(at__lt=before))
    finished = WebhookEvent.objects.filter(created_at__lt=before).exclude(status=WebhookEvent.Status.PENDING)
    return {"attempts": attempts, "events": _delete_in_chunks(finished)}


def forget_outbox(endpoint_ids: list[int]) -> None:
    """Delete these endpoints' events and attempts with one statement each, before the endpoints go:
    Django's cascade would load every event of theirs (a million, after a big campaign) to delete it."""
    from django.db import connection

    if not endpoint_ids:
        return
    marks = ", ".join(["%s"] * len(endpoint_ids))
    with connection.cursor() as cursor:
        for model in (WebhookAttempt, WebhookEvent):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE endpoint_id IN ({marks})", endpoint_ids)  # noqa: S608 - names are ours


def _delete_in_chunks(queryset, size: int = 10_000) -> int:
    removed = 0
    while ids := list(queryset.values_list("pk", flat=True)[:size]):
        removed += queryset.model.objects.filter(pk__in=ids).delete()[0]
    return removed

"""The receiving worker: events the webhooks took, applied in batches, each exactly once in effect.

A batch is claimed (deleted), applied and committed in one transaction (apply_batch): a worker killed mid-batch
rolls it back and the rows wait for the next run. The RQ job (receive_events) runs batches on its
own queue for a time slice; rqcron starts one every second (messaging_site/cron.py), and a lease in
Redis lets only one run at a time, so the others return at once. The rows are the truth: a Redis
flush loses the lease and the queued jobs, and the next tick starts again from the table.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from redis.exceptions import RedisError

from campaigns.pipeline.counters import count_outcomes
from campaigns.pipeline.queueing import RECEIVING_QUEUE, WORKER_QUEUES, connection
from campaigns.receiving.receipts import apply_receipts
from providers.events import InboundEvent, ReceiptEvent, Received, claim_waiting, inbound_book

log = logging.getLogger(__name__)

__all__ = ["RECEIVING_QUEUE", "apply_batch", "receive_events"]
LEASE = "receiving:lease"  # Redis key: the token of the job applying now
IDLE_POLL_SECONDS = 0.1  # how often a job with nothing to do looks for new events


@dataclass
class Batch:
    rows: int = 0  # events claimed (and deleted)
    receipts_moved: int = 0
    unknown: int = 0
    inbound: int = 0
    dropped: int = 0  # events that could not be read or applied (logged)
    counts: dict[int, Counter] = field(default_factory=dict)


def apply_batch(limit: int | None = None) -> Batch:
    """Claim up to ``limit`` waiting events, apply them and delete them, in one transaction."""
    limit = limit or settings.RECEIVING_BATCH_SIZE
    try:
        with transaction.atomic():
            batch = _apply(claim_waiting(limit))  # claimed rows are deleted: a rollback brings them back
    except (OperationalError, InterfaceError):
        raise  # the database is away or the batch lost a deadlock: the rows wait for the next run
    except Exception:
        # A bug or a row no statement can take: apply them one by one so one bad row cannot hold
        # back every batch after it.
        log.exception("a batch of received events failed; applying them one by one")
        batch = _apply_one_by_one(limit)
    _count_after_commit(batch)
    return batch


def _apply(claimed: list[Received]) -> Batch:
    receipts = [row.event for row in claimed if isinstance(row.event, ReceiptEvent)]
    inbound = [row.event for row in claimed if isinstance(row.event, InboundEvent)]
    applied = apply_receipts(receipts)
    if inbound:
        inbound_book().receive(inbound)
    dropped = sum(row.event is None for row in claimed)
    return Batch(len(claimed), applied.moved, applied.unknown, len(inbound), dropped, dict(applied.counts))


def _apply_one_by_one(limit: int) -> Batch:
    total = Batch()
    with transaction.atomic():
        claimed = claim_waiting(limit)
        for row in claimed:
            try:
                with transaction.atomic():
                    one = _apply([row])
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                log.exception("received event %s dropped: it cannot be applied (%r)", row.row_id, row.event)
                one = Batch(rows=1, dropped=1)
            _add(total, one)
    return total


def _add(total: Batch, one: Batch) -> None:
    total.rows += one.rows
    total.receipts_moved += one.receipts_moved
    total.unknown += one.unknown
    total.inbound += one.inbound
    total.dropped += one.dropped
    for channel_id, counts in one.counts.items():
        total.counts.setdefault(channel_id, Counter()).update(counts)


def _count_after_commit(batch: Batch) -> None:
    # After the commit (apply_batch's atomic has ended): a batch rolled back counts nothing.
    for channel_id, counts in batch.counts.items():
        count_outcomes(channel_id, counts)


def receive_events() -> dict[str, int]:
    """The RQ job: apply batches for RECEIVING_SLICE_SECONDS, or until nothing has come for
    RECEIVING_IDLE_SECONDS (at once when work waits on another queue of this worker); another job
    started meanwhile returns at once (the lease)."""
    token = uuid.uuid4().hex
    if not _take_lease(token):
        return {"batches": 0, "events": 0}
    totals = Batch()
    batches = 0
    others = _other_queues()
    try:
        ends = time.monotonic() + settings.RECEIVING_SLICE_SECONDS
        idle_since = None
        while time.monotonic() < ends:
            try:
                batch = apply_batch()
            except (OperationalError, InterfaceError) as error:
                # The database is away, or SQLite's one writer was busy: the batch rolled back and
                # its rows wait for the next job (rqcron starts one every second).
                log.warning("receiving stopped for now, the events wait: %s", error)
                break
            _renew_lease(token)
            if batch.rows:
                batches += 1
                _add(totals, batch)
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settings.RECEIVING_IDLE_SECONDS or _other_work_waiting(others):
                break
            time.sleep(IDLE_POLL_SECONDS)
    finally:
        _release_lease(token)
    if totals.rows:
        log.info(
            "received events applied: %d in %d batch(es), %d receipt(s) moved a message, %d unknown, %d inbound",
            totals.rows,
            batches,
            totals.receipts_moved,
            totals.unknown,
            totals.inbound,
        )
    return {"batches": batches, "events": totals.rows}


def _other_work_waiting(queues: list[str]) -> bool:
    """Whether a job waits on another queue this worker listens to (a dedicated `rqworker receiving`
    has none, and keeps watching for receipts)."""
    from rq import Queue

    try:
        pipe = connection().pipeline(transaction=False)
        for name in queues:
            pipe.llen(f"{Queue.redis_queue_namespace_prefix}{name}")
        return any(pipe.execute())
    except RedisError:
        return False


def _other_queues() -> list[str]:
    """The queues besides receiving that the worker running this job listens to (all of
    WORKER_QUEUES when that cannot be told: outside a worker, or Redis away)."""
    from rq import get_current_job
    from rq.worker import Worker

    others = [name for name in WORKER_QUEUES if name != RECEIVING_QUEUE]
    job = get_current_job()
    if job is None or not job.worker_name:
        return others
    try:
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=connection())
    except RedisError:
        return others
    return others if worker is None else [name for name in worker.queue_names() if name != RECEIVING_QUEUE]


def _take_lease(token: str) -> bool:
    try:
        return bool(connection().set(LEASE, token, nx=True, ex=settings.RECEIVING_LEASE_SECONDS))
    except RedisError:
        # Redis away: the rows are still the truth, and a second worker at most waits on the same
        # locks (PostgreSQL hands each of them other rows).
        return True


def _renew_lease(token: str) -> None:
    try:
        holder = connection().get(LEASE)
        if holder is None or holder.decode() == token:  # a flush took it: take it back
            connection().set(LEASE, token, ex=settings.RECEIVING_LEASE_SECONDS)
    except RedisError:
        pass


def _release_lease(token: str) -> None:
    try:
        if (connection().get(LEASE) or b"").decode() == token:
            connection().delete(LEASE)
    except RedisError:
        pass

"""The reconciler runs in the scheduler's process on its own clock, not as a job on a queue: it
waits for no worker, and no campaign's job gives way to it (campaigns/pipeline/housekeeping.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage
from campaigns.pipeline.housekeeping import start_reconciler
from campaigns.pipeline.queueing import urgent_work_waiting

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_scheduler_runs_the_reconciler_with_no_worker_and_puts_nothing_where_campaigns_give_way(channel):
    due = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", body="Hi", status=OutboundMessage.Status.SCHEDULED,
        send_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    stop = start_reconciler(0.05)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            due.refresh_from_db()
            if due.status == OutboundMessage.Status.QUEUED:
                break
            time.sleep(0.05)
    finally:
        stop.set()
    assert due.status == OutboundMessage.Status.QUEUED  # released by the reconciler, in this process
    # Its send job waits on high (a single message: user-facing), the reconciler's own run did not.
    high = django_rq.get_queue("high")
    assert [job.func_name for job in high.jobs] == ["campaigns.pipeline.jobs.send_messages_job"]
    assert urgent_work_waiting()


def test_a_failed_run_is_logged_and_the_next_one_still_comes(monkeypatch, caplog):
    from campaigns.pipeline import jobs

    runs = []

    def failing_reconcile():
        runs.append(time.monotonic())
        raise RuntimeError("database away")

    monkeypatch.setattr(jobs, "reconcile", failing_reconcile)
    stop = start_reconciler(0.01)
    deadline = time.monotonic() + 10
    while len(runs) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    assert len(runs) >= 3
    assert "the reconciler failed" in caplog.text


def test_scheduled_jobs_the_scheduler_left_overdue_are_moved_to_their_queues_once(db):
    """A worker killed with RQ's scheduler lock keeps every worker's scheduler off for up to 61 s:
    the reconciler moves what is overdue by more than OVERDUE_SECONDS, and leaves the rest to RQ."""
    from rq.registry import ScheduledJobRegistry

    from campaigns.pipeline.jobs import reconcile
    from campaigns.pipeline.queueing import OVERDUE_SECONDS, enqueue_overdue_scheduled

    queue = django_rq.get_queue("default")
    now = timezone.now()
    overdue = queue.enqueue_at(now - timedelta(seconds=OVERDUE_SECONDS + 20), "campaigns.pipeline.jobs.reconcile")
    just_due = queue.enqueue_at(now - timedelta(seconds=1), "campaigns.pipeline.jobs.reconcile")
    later = queue.enqueue_at(now + timedelta(hours=1), "campaigns.pipeline.jobs.reconcile")
    assert reconcile()["overdue_jobs"] == 1
    assert queue.job_ids == [overdue.id]
    assert set(ScheduledJobRegistry(queue=queue).get_job_ids()) == {just_due.id, later.id}
    assert enqueue_overdue_scheduled() == 0  # moved once

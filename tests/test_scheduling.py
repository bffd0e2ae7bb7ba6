"""Scheduled messages go at their time and not before, and survive losing Redis."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns.models import OutboundMessage
from campaigns.pipeline.jobs import reconcile

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def move_clock(message: OutboundMessage, seconds_ago: float = 1) -> None:
    """Pretend the scheduled time has come, without waiting for it."""
    OutboundMessage.objects.filter(pk=message.pk).update(send_at=timezone.now() - timedelta(seconds=seconds_ago))


def test_a_scheduled_message_waits_for_its_time(send_one, worker):
    message = send_one(send_at=later(3600))
    assert message.status == Status.SCHEDULED

    worker()
    reconcile()
    worker()

    message.refresh_from_db()
    assert message.status == Status.SCHEDULED
    assert message.sent_at is None


def test_a_scheduled_message_goes_when_its_time_comes(send_one, worker):
    message = send_one(send_at=later(1.5))
    worker()
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.SCHEDULED

    import time

    time.sleep(1.6)
    worker()  # RQ's scheduler hands over the job it has been holding

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.sent_at >= message.send_at


def test_a_schedule_in_the_past_means_now(send_one, worker):
    message = send_one(send_at=later(-60))
    assert message.status == Status.QUEUED
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_a_cancelled_message_never_sends(send_one, worker):
    message = send_one(send_at=later(3600))
    assert message.cancel()
    move_clock(message)

    worker()
    reconcile()
    worker()

    message.refresh_from_db()
    assert message.status == Status.CANCELLED
    assert message.provider_message_id == ""


def test_a_message_moved_later_does_not_go_at_the_old_time(send_one, worker):
    message = send_one(send_at=later(-1) + timedelta(seconds=2))
    assert message.reschedule(later(3600))
    import time

    time.sleep(2.1)
    worker()  # the job for the old time runs and finds the message not yet due

    message.refresh_from_db()
    assert message.status == Status.SCHEDULED


def test_a_message_moved_earlier_goes_at_the_new_time(send_one, worker):
    message = send_one(send_at=later(3600))
    assert message.reschedule(later(-1))
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_a_redis_flush_before_the_due_time_loses_nothing(send_one, worker):
    message = send_one(send_at=later(3600))
    django_rq.get_connection("default").flushdb()
    move_clock(message)

    assert reconcile()["released"] == 1
    worker()

    message.refresh_from_db()
    assert message.status == Status.SENT


@override_settings(QUEUED_STALE_SECONDS=5)
def test_a_queued_message_whose_job_was_lost_is_sent_by_the_reconciler(send_one, worker):
    message = send_one()
    django_rq.get_connection("default").flushdb()
    OutboundMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(seconds=10))

    assert reconcile()["requeued"] == 1
    worker()

    message.refresh_from_db()
    assert message.status == Status.SENT


@override_settings(SENDING_STALE_SECONDS=60)
def test_a_message_stuck_in_sending_becomes_unknown_unless_the_provider_deduplicates(send_one, channel):
    message = send_one()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.SENDING, claimed_at=timezone.now() - timedelta(seconds=120)
    )
    channel.provider = "sandbox"  # deduplicates by our id, so it may go again
    assert reconcile()["expired"] == 1
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.QUEUED

"""The sandbox reports each message delivered a moment after sending, through the receiving worker."""

from __future__ import annotations

import time

import django_rq
import pytest

from campaigns.models import OutboundMessage
from providers.models import ReceivedEvent
from providers.sandbox import RECEIPT_ATTEMPTS, deliver
from tests.conftest import run_worker

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.mark.django_db(transaction=True)  # the send job is enqueued when the transaction commits
def test_a_sandbox_message_is_sent_then_delivered_a_moment_later(channel, send_one, worker):
    channel.options = {"receipt_delay_seconds": 0.3}
    channel.save()
    message = send_one()
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id.startswith("SB")
    assert django_rq.get_queue("default").scheduled_job_registry.count == 1  # the receipt, due in 0.3 s

    time.sleep(0.5)
    worker()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.sent_at is not None
    assert message.delivered_at >= message.sent_at


def test_the_receipt_waits_while_the_message_is_not_recorded_as_sent(channel):
    message = OutboundMessage.objects.create(channel=channel, to="+447911123456", body="Hi", status=Status.SENDING)
    assert deliver(channel.pk, ["SBnot-recorded-yet"], delay=0.1) == 0
    message.refresh_from_db()
    assert message.status == Status.SENDING  # never ahead of the worker that is still writing "sent"
    [job_id] = django_rq.get_queue("default").scheduled_job_registry.get_job_ids()
    job = django_rq.get_queue("default").fetch_job(job_id)
    assert job.args[1:] == (["SBnot-recorded-yet"], 0.5, 2)  # looks again, a bounded number of times

    assert not ReceivedEvent.objects.exists()

    message.status, message.provider_message_id = Status.SENT, "SBnot-recorded-yet"
    message.save()
    assert deliver(channel.pk, ["SBnot-recorded-yet"], attempt=2) == 1
    run_worker()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


def test_the_receipt_gives_up_after_its_attempts(channel):
    assert deliver(channel.pk, ["SBnever"], attempt=RECEIPT_ATTEMPTS) == 0
    assert django_rq.get_queue("default").scheduled_job_registry.count == 0


def test_a_delivered_message_is_never_taken_back(channel):
    message = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", body="Hi", status=Status.READ, provider_message_id="SBx"
    )
    assert deliver(channel.pk, ["SBx"], attempt=RECEIPT_ATTEMPTS) == 1
    run_worker()
    message.refresh_from_db()
    assert message.status == Status.READ

"""A batch that missed its booked leave-by time (a busy machine) goes back to the queue for a retry
in a moment (sending.LATE_RETRY): it must get a dispatch job at that moment, not wait for the
latest retry of its job (another message's backoff) or for the reconciler a minute later.

Real worker, loopback Twilio fake; the lateness is forced by booking one batch's leave-by time in
the past, as a machine too busy to send on time would."""

from __future__ import annotations

import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline import sending
from campaigns.pipeline.jobs import send_messages_job
from campaigns.pipeline.queueing import QUEUE_NAME
from providers import ratelimit
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)
Message = OutboundMessage.Status
NUMBERS = [f"+4479111235{n:02d}" for n in range(6)]
LATE_RETRY = timedelta(seconds=2)  # longer than the pipeline's, so its job surely ends before it


def second_batch_late(monkeypatch, meanwhile=lambda: None) -> None:
    """The second booking's leave-by time is already past when it is made: its requests are held
    back as late. ``meanwhile`` runs then (as whatever else kept the machine busy)."""
    booked = ratelimit.reserve
    calls = []

    def reserve(*args, **kwargs):
        due, leave_by = booked(*args, **kwargs)
        calls.append(due)
        if len(calls) != 2:
            return due, leave_by
        meanwhile()
        now = time.monotonic()  # due at once (no pause check while it waits), and already late
        return now, now - 1.0

    monkeypatch.setattr(ratelimit, "reserve", reserve)


def launched(make_twilio_channel, make_contact, make_list) -> Campaign:
    channel = make_twilio_channel(rate_limit=5)  # batches of 5, all in one claim: the second holds one
    customers = make_list("Customers", [make_contact(number, f"Person {n}") for n, number in enumerate(NUMBERS)])
    campaign = Campaign.objects.create(name="Late", channel=channel, text="Hi {{ first_name }}")
    campaign.lists.set([customers])
    assert campaign.launch()
    return campaign


def until_due(message: OutboundMessage) -> None:
    time.sleep(max(0.0, (message.next_attempt_at - timezone.now()).total_seconds()) + 0.2)


def received(fake, number: str) -> int:
    return sum(1 for request in fake.received if request.form["To"][0] == number)


def test_a_late_batch_is_dispatched_again_at_its_retry_time_not_at_its_jobs_last_backoff(
    fake_twilio, make_twilio_channel, make_contact, make_list, worker, monkeypatch, settings
):
    settings.SEND_RETRY_BASE_SECONDS = 30.0  # as in production: a 503 is tried again 15 to 30 s later
    monkeypatch.setattr(sending, "LATE_RETRY", LATE_RETRY)
    fake_twilio.errors.update(dict.fromkeys(NUMBERS, (503, 20503, "Service unavailable")))  # the first batch
    second_batch_late(monkeypatch, meanwhile=fake_twilio.errors.clear)
    campaign = launched(make_twilio_channel, make_contact, make_list)
    worker()

    [late] = campaign.messages.filter(error_code="late")
    failing = campaign.messages.filter(error_code="20503")
    assert (late.status, failing.count()) == (Message.QUEUED, len(NUMBERS) - 1)
    assert received(fake_twilio, late.to) == 0  # held back: not a byte written
    assert all(f.status == Message.QUEUED and f.next_attempt_at - late.next_attempt_at > LATE_RETRY for f in failing)

    until_due(late)
    worker()  # runs the dispatch jobs RQ's scheduler holds for now or earlier

    late.refresh_from_db()
    assert late.status == Message.SENT  # at its retry time, not with the backoff 15 s or more later
    assert received(fake_twilio, late.to) == 1  # once
    assert set(failing.values_list("status", flat=True)) == {Message.QUEUED}  # their backoff is not cut short
    assert len(fake_twilio.received) == len(NUMBERS)  # the five answered 503 once, the late one once


def test_a_late_batch_of_a_job_that_gave_way_is_dispatched_again_at_its_retry_time(
    fake_twilio, make_twilio_channel, make_contact, make_list, worker, monkeypatch
):
    """The job hands its worker over to a single message waiting on ``high``; the fresh dispatch job
    it leaves runs before the late batch's retry time and finds nothing due: the late batch still
    gets its job (not the reconciler's, QUEUED_STALE_SECONDS later)."""
    monkeypatch.setattr(sending, "LATE_RETRY", LATE_RETRY)
    high = django_rq.get_queue(QUEUE_NAME)
    second_batch_late(monkeypatch, meanwhile=lambda: high.enqueue(time.time))  # urgent work arrives
    campaign = launched(make_twilio_channel, make_contact, make_list)
    worker()

    [late] = campaign.messages.filter(status=Message.QUEUED)
    assert late.error_code == "late"
    assert campaign.messages.filter(status=Message.SENT).count() == len(NUMBERS) - 1

    until_due(late)
    worker()

    late.refresh_from_db()
    assert late.status == Message.SENT
    assert received(fake_twilio, late.to) == 1
    assert campaign.messages.filter(status=Message.SENT).count() == len(NUMBERS)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_late_single_message_is_sent_again_at_its_retry_time_not_at_its_jobs_last_backoff(
    fake_twilio, make_twilio_channel, worker, monkeypatch, settings
):
    settings.SEND_RETRY_BASE_SECONDS = 30.0
    monkeypatch.setattr(sending, "LATE_RETRY", LATE_RETRY)
    channel = make_twilio_channel(rate_limit=1)  # one message a batch
    fake_twilio.errors.update(dict.fromkeys(NUMBERS[:2], (503, 20503, "Service unavailable")))  # the first batch
    second_batch_late(monkeypatch, meanwhile=fake_twilio.errors.clear)
    messages = [OutboundMessage.send_one(channel=channel, to=to, text="Hi", enqueue=False) for to in NUMBERS[:2]]
    send_messages_job([m.pk for m in messages])  # one job for both, as the API's drain job makes

    first = OutboundMessage.objects.get(pk__in=[m.pk for m in messages], error_code="20503")
    late = OutboundMessage.objects.get(pk__in=[m.pk for m in messages], error_code="late")
    assert first.next_attempt_at - late.next_attempt_at > LATE_RETRY

    until_due(late)
    worker()

    late.refresh_from_db()
    assert late.status == Message.SENT
    assert received(fake_twilio, late.to) == 1
    assert OutboundMessage.objects.get(pk=first.pk).status == Message.QUEUED  # its backoff is not cut short

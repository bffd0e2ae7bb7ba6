# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""Campaigns and bulk jobs take turns on the campaign queue: a fan-out or dispatch job whose turn
is over while another campaign's job waits hands over to a fresh job of its own at the back.

With a real RQ worker (in this process); turns of zero seconds and fan-out slices of two
recipients, so a handful of messages shows the order. tests/test_fairness.py has the audit's case
with worker processes and timings.
"""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline import fanout, queueing
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.queueing import enqueue_dispatch, other_campaign_work_waiting
from providers.models import Channel

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user, call  # noqa: F401
from tests.test_bulk_api import create_job

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status
BIG = [{"to": f"+1415200{n:04d}"} for n in range(7)]


@pytest.fixture
def quick_turns(monkeypatch):
    monkeypatch.setattr(queueing, "FAIR_TURN_SECONDS", 0.0)
    monkeypatch.setattr(fanout, "INLINE_SLICE", 2)


@pytest.fixture
def idle_channel(db) -> Channel:
    return Channel.objects.create(name="Idle", provider="sandbox", sender="+15005550007", rate_limit=1000)


def sent_at(campaign: Campaign) -> list:
    return sorted(campaign.messages.filter(status=Status.SENT).values_list("sent_at", flat=True))


def test_a_big_jobs_fan_out_takes_turns_so_a_small_job_is_sent_before_it_is_expanded(
    call, channel, idle_channel, worker, quick_turns
):
    big = create_job(call, channel, BIG, text="Sale")
    small = create_job(call, idle_channel, [{"to": "+16502000123"}], text="Your code")
    worker()
    big.refresh_from_db()
    small.refresh_from_db()
    # Four slices of the big job's fan-out, each at the back of the queue: the small job's
    # fan-out and dispatch ran between the first and the last.
    assert small.fanned_out_at < big.fanned_out_at
    assert sent_at(small)[0] < big.fanned_out_at
    assert big.status == small.status == Campaign.Status.COMPLETED
    assert big.messages.filter(status=Status.SENT).count() == len(BIG)  # every recipient once
    assert big.recipient_count == len(BIG)


def test_a_big_jobs_dispatch_hands_over_to_a_small_job_waiting_behind_it(
    call, channel, idle_channel, worker, quick_turns, settings
):
    big = create_job(call, channel, BIG, text="Sale")
    fan_out(big.pk)  # expanded here: its dispatch job is the first in the queue
    small = create_job(call, idle_channel, [{"to": "+16502000123"}], text="Your code")
    settings.SEND_CHUNK_SIZE = 2  # claims of two messages (one a batch): a turn sends at least one claim
    Channel.objects.filter(pk=channel.pk).update(batch_size=1)
    worker()
    big_sent = sent_at(big)
    assert len(big_sent) == len(BIG)
    # A claim of the big job, the small job's fan-out, a claim, then the small job's message.
    assert big_sent[3] < sent_at(small)[0] < big_sent[4]
    assert Campaign.objects.get(pk=big.pk).status == Campaign.Status.COMPLETED


def test_a_campaigns_own_jobs_waiting_are_no_reason_to_hand_over(channel):
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi", status=Campaign.Status.RUNNING)
    enqueue_dispatch(campaign.pk, parallel=2)
    assert not other_campaign_work_waiting(campaign.pk)  # its own jobs would only take turns with it
    assert other_campaign_work_waiting(campaign.pk + 1)

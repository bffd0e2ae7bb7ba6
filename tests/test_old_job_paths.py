"""Jobs queued before campaigns/ was split into pipeline/, content/ and reports/ still run.

RQ stores a job's function as a dotted path, so a job enqueued by the previous release names
``campaigns.jobs.send_messages_job`` and so on. Each old path is enqueued here by that string, as
the previous release's Redis holds it, and a real worker runs it.
"""

from __future__ import annotations

import django_rq
import pytest

from campaigns.models import Campaign, CampaignTally, OutboundMessage
from campaigns.pipeline.batching import PENDING
from campaigns.pipeline.queueing import CAMPAIGN_QUEUE, QUEUE_NAME

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status


def enqueue_by_old_path(path: str, *args, queue: str = QUEUE_NAME) -> None:
    django_rq.get_queue(queue).enqueue(path, *args)


def queued_message(channel) -> OutboundMessage:
    return OutboundMessage.objects.create(channel=channel, to="+447911123456", body="Hi", status=Status.QUEUED)


def test_a_send_job_under_its_old_path_sends(channel, worker):
    message = queued_message(channel)
    enqueue_by_old_path("campaigns.jobs.send_messages_job", [message.pk])
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_a_drain_job_under_its_old_path_sends_the_listed_messages(channel, worker):
    message = queued_message(channel)
    django_rq.get_connection(QUEUE_NAME).rpush(PENDING, message.pk)
    enqueue_by_old_path("campaigns.api.batching.drain_job")
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_fan_out_and_dispatch_under_their_old_paths_send_a_campaign(channel, make_contact, make_list, worker):
    audience = make_list("Customers", [make_contact("+447911123401"), make_contact("+447911123402")])
    campaign = Campaign.objects.create(name="Sale", channel=channel, text="Hi", status=Campaign.Status.RUNNING)
    campaign.lists.set([audience])
    enqueue_by_old_path("campaigns.fanout.fan_out", campaign.pk, queue=CAMPAIGN_QUEUE)
    worker()
    assert sorted(campaign.messages.values_list("status", flat=True)) == [Status.SENT, Status.SENT]

    # a dispatch job queued by the old release for messages put back after the fan-out
    campaign.messages.update(status=Status.QUEUED)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, finished_at=None)
    enqueue_by_old_path("campaigns.jobs.dispatch_campaign_job", campaign.pk, queue=CAMPAIGN_QUEUE)
    worker()
    assert sorted(campaign.messages.values_list("status", flat=True)) == [Status.SENT, Status.SENT]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_the_reconciler_and_a_recount_under_their_old_paths_run(channel, worker):
    campaign = Campaign.objects.create(name="Done", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)
    OutboundMessage.objects.create(
        campaign=campaign, channel=channel, to="+447911123401", body="Hi", status=Status.SENT
    )
    enqueue_by_old_path("campaigns.jobs.reconcile")
    enqueue_by_old_path("campaigns.tallies.recount_job", [campaign.pk])
    assert worker() == 2
    assert CampaignTally.objects.get(campaign=campaign).counts == {"sent": 1}

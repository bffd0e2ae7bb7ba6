# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""POST /message through a real worker to the sandbox, then GET /message/<id> tells what happened."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage
from campaigns.pipeline.batching import DRAIN_PENDING, PENDING
from campaigns.pipeline.jobs import reconcile

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user, call  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_is_sent_by_the_worker_and_its_state_can_be_read(call, channel, worker):
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": "14155550123", "text": "Hello"}
    status, answer, _ = call("POST", "/message", body)
    assert status == 200
    message_id = answer["data"]["message_id"]

    worker()

    status, answer, _ = call("GET", f"/message/{message_id}")
    assert status == 200
    assert answer["data"]["state"] == "sent"
    assert answer["data"]["provider_message_id"].startswith("SB")
    assert answer["data"]["sent_at"] is not None


def test_a_scheduled_message_waits_for_its_time(call, channel, worker):
    when = (timezone.now() + timedelta(hours=2)).isoformat()
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": "+14155550123", "text": "Later"}
    status, answer, _ = call("POST", "/message", {**body, "schedule": when})
    assert status == 200

    worker()

    message = OutboundMessage.objects.get(pk=int(answer["data"]["message_id"]))
    assert message.status == OutboundMessage.Status.SCHEDULED
    assert call("GET", f"/message/{message.pk}")[1]["data"]["state"] == "scheduled"


def post_messages(call, channel, count: int) -> list[int]:
    ids = []
    for number in range(count):
        body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": f"+1415555{number:04d}", "text": "Hi"}
        status, answer, _ = call("POST", "/message", body)
        assert status == 200, answer
        ids.append(int(answer["data"]["message_id"]))
    return ids


def test_many_messages_share_one_send_job(call, channel, worker):
    ids = post_messages(call, channel, 5)
    assert django_rq.get_queue("high").count == 1  # one drain job, not one job per message

    worker()

    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}
    assert not django_rq.get_connection("default").exists(PENDING, DRAIN_PENDING)
    post_messages(call, channel, 1)
    assert django_rq.get_queue("high").count == 1  # the next message brings a new drain job


def test_a_redis_that_lost_the_push_script_is_sent_it_again(call, channel, worker):
    """The id is pushed by a script run by its hash; a Redis restarted does not know it yet."""
    first = post_messages(call, channel, 1)
    django_rq.get_connection("default").script_flush()
    ids = post_messages(call, channel, 2)
    assert django_rq.get_connection("default").lrange(PENDING, 0, -1) == [str(pk).encode() for pk in [*first, *ids]]
    assert django_rq.get_queue("high").count == 1
    worker()
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}


def test_messages_survive_redis_losing_the_list(call, channel, worker, settings):
    ids = post_messages(call, channel, 3)
    django_rq.get_connection("default").flushdb()
    stale = timezone.now() - timedelta(seconds=settings.QUEUED_STALE_SECONDS + 1)
    OutboundMessage.objects.filter(pk__in=ids).update(updated_at=stale)

    assert reconcile()["requeued"] == 3
    worker()

    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}


def test_a_drain_job_out_of_time_hands_over_to_a_fresh_one(call, channel, worker, settings):
    from campaigns.pipeline.batching import drain_job

    ids = post_messages(call, channel, 3)
    queue = django_rq.get_queue("high")
    queue.empty()
    settings.SEND_JOB_BUDGET_SECONDS = 0

    assert drain_job() == 0
    assert queue.count == 1  # the fresh drain job
    assert django_rq.get_connection("default").llen(PENDING) == 3

    settings.SEND_JOB_BUDGET_SECONDS = 240
    worker()
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}

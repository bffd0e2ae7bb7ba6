# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""POST /message through a real worker to the sandbox, then GET /message/<id> tells what happened."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage

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

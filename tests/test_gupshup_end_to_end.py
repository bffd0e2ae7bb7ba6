"""A Gupshup message from send_one to delivered: real RQ worker, real HTTP both ways.

The fake Gupshup posts its message events back to our live server, as the real one posts to the
callback URL set in its dashboard.
"""

from __future__ import annotations

import time

import pytest

from campaigns.models import OutboundMessage
from providers.fakes.server import Behaviour
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.models import Channel
from tests.conftest import run_worker

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake():
    with FakeGupshup(behaviour=Behaviour(callback_delay=0.05)) as fake:
        yield fake


@pytest.fixture
def gupshup_channel(fake, live_server) -> Channel:
    channel = Channel.objects.create(
        name="Gupshup",
        provider="gswa",
        sender="+15550001111",
        credentials={"apikey": "e2e-key", "app_name": "e2e-app"},
        api_base_url=fake.base_url,
        rate_limit=100,
    )
    callback = f"{live_server.url}/webhooks/gswa/{channel.webhook_token}/events"
    fake.config = GupshupConfig(apikey="e2e-key", app_name="e2e-app", callback_url=callback)
    return channel


def wait_for_status(message: OutboundMessage, status: str, seconds: float = 10.0) -> OutboundMessage:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run_worker()  # the receiving job, as rqcron starts it every second
        message.refresh_from_db()
        if message.status == status:
            return message
        time.sleep(0.05)
    raise AssertionError(f"message {message.pk} is {message.status}, not {status}, after {seconds} s")


@pytest.mark.parametrize("event_version", [2, 3])
def test_a_message_goes_out_and_its_delivery_comes_back(fake, gupshup_channel, worker, event_version):
    fake.config.event_version = event_version
    message = OutboundMessage.send_one(channel=gupshup_channel, to="+447911123456", text="Your order shipped")
    worker()
    message.refresh_from_db()
    assert message.status in (Status.SENT, Status.DELIVERED)
    assert message.provider_message_id == fake.sent[0].gupshup_id
    wait_for_status(message, Status.DELIVERED)
    assert message.delivered_at is not None


def test_a_template_message_is_personalised_sent_and_delivered(fake, gupshup_channel, worker, make_contact):
    make_contact(phone="+447911123457", name="Ann Example")
    template = {"id": "tpl-7", "variables": {"Body": {"1": "{{ first_name }}", "2": "42"}}}
    message = OutboundMessage.send_one(channel=gupshup_channel, to="+447911123457", template=template)
    worker()
    assert fake.sent[0].template == {"id": "tpl-7", "params": ["Ann", "42"]}
    wait_for_status(message, Status.DELIVERED)


def test_a_message_whatsapp_cannot_deliver_ends_failed_with_the_reason(fake, gupshup_channel, worker):
    fake.config.fail_later["447911123458"] = (1002, "Number does not exist on WhatsApp")
    message = OutboundMessage.send_one(channel=gupshup_channel, to="+447911123458", text="Hi")
    worker()
    wait_for_status(message, Status.FAILED)
    assert message.error_message == "Number does not exist on WhatsApp"


def test_the_fake_posts_a_users_message_which_opens_the_24_hour_window(fake, gupshup_channel):
    from campaigns.conversations.window import free_text_refusal
    from campaigns.models import Conversation

    assert "never written" in free_text_refusal(gupshup_channel, "+447911123456")
    assert fake.send_inbound("+447911123456", "Is the sale still on?") == 200
    deadline = time.monotonic() + 10
    while (
        not Conversation.objects.filter(channel=gupshup_channel, phone="+447911123456")
        .exclude(last_inbound_at=None)
        .exists()
    ):
        assert time.monotonic() < deadline, "the inbound message was never stored"
        run_worker()  # the receiving job, as rqcron starts it every second
        time.sleep(0.05)
    assert free_text_refusal(gupshup_channel, "+447911123456") == ""

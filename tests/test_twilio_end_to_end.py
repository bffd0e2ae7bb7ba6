"""The whole path on real parts: a real RQ worker sends through FakeTwilio over loopback HTTP, and
the fake calls our live server back with signed status callbacks and inbound replies."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import OutboundMessage
from campaigns.pipeline.queueing import enqueue_send
from campaigns.receiving import apply_batch
from contacts.models import Contact
from tests import test_twilio_support as support
from tests.conftest import run_worker
from tests.test_twilio_support import CONTENT_SID

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
Status = OutboundMessage.Status
ANN, BOB, CAT = "+447911123456", "+447911123457", "+447911123458"


@pytest.fixture
def calling_back(fake_twilio, live_server, settings):
    """The fake, calling back the live server that PUBLIC_BASE_URL now names."""
    settings.PUBLIC_BASE_URL = live_server.url
    fake_twilio.send_callbacks = True
    return fake_twilio


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Callbacks arrive on their own time: poll until ``check`` holds or the time is up, with the
    receiving worker applying what the webhooks took (rqcron starts it every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_worker()
        if check():
            return True
        time.sleep(0.05)
    return check()


def status_of(message: OutboundMessage) -> str:
    return OutboundMessage.objects.values_list("status", flat=True).get(pk=message.pk)


def test_a_message_sent_by_the_worker_ends_delivered_by_twilios_callbacks(calling_back, make_twilio_channel, worker):
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to=ANN, text="Hello Ann")
    worker()

    [request] = calling_back.received
    assert request.form["Body"] == ["Hello Ann"]
    assert eventually(lambda: status_of(message) == Status.DELIVERED)
    message.refresh_from_db()
    assert message.provider_message_id in calling_back.messages
    assert message.sent_at is not None and message.delivered_at is not None
    assert eventually(lambda: len(calling_back.callbacks) == 2)
    assert [(params["MessageStatus"], answer) for _, params, answer in calling_back.callbacks] == [
        ("sent", 200),
        ("delivered", 200),
    ]


def test_a_whatsapp_template_goes_through_the_worker_and_is_delivered(calling_back, make_twilio_channel, worker):
    channel = make_twilio_channel("twlowa")
    template = {"id": CONTENT_SID, "variables": {"1": "Ann"}}
    message = OutboundMessage.send_one(channel=channel, to=ANN, template=template)
    worker()

    assert calling_back.received[0].form["ContentVariables"] == ['{"1":"Ann"}']
    assert eventually(lambda: status_of(message) == Status.DELIVERED)


def test_bulk_mode_sends_one_request_and_receipts_find_every_message(calling_back, make_twilio_channel, worker):
    channel = make_twilio_channel(options={"bulk_mode": True})
    calling_back.undeliverable.add(BOB)
    messages = {to: OutboundMessage.objects.create(channel=channel, to=to, body=f"Hi {to}") for to in (ANN, BOB, CAT)}
    enqueue_send([m.pk for m in messages.values()])
    worker()

    assert [r.path for r in calling_back.received] == ["/v1/Messages"]
    expected = {ANN: Status.DELIVERED, BOB: Status.UNDELIVERED, CAT: Status.DELIVERED}
    assert eventually(lambda: {to: status_of(m) for to, m in messages.items()} == expected)
    assert OutboundMessage.objects.get(pk=messages[BOB].pk).error_code == "30003"


def test_a_stop_reply_opts_the_contact_out_and_nothing_more_is_sent(
    calling_back, make_twilio_channel, make_contact, worker
):
    channel = make_twilio_channel()
    make_contact(ANN)
    queued_before_the_reply = OutboundMessage.send_one(channel=channel, to=ANN, text="Offer 1")

    assert calling_back.send_inbound(channel.webhook_url("inbound"), ANN, "STOP") == 200
    assert apply_batch().inbound == 1  # the receiving worker's next batch, before the send job runs
    assert Contact.objects.get(phone=ANN).is_opted_out
    with pytest.raises(ValidationError, match="opted out"):
        OutboundMessage.send_one(channel=channel, to=ANN, text="Offer 2")

    worker()
    queued_before_the_reply.refresh_from_db()
    assert (queued_before_the_reply.status, queued_before_the_reply.error_code) == (Status.CANCELLED, "opted_out")
    # What went to Twilio: the STOP's own confirmation (channel keywords), once, and nothing else.
    [confirmation] = [parse_qs(request.body.decode()) for request in calling_back.received]
    assert confirmation["To"] == [ANN] and confirmation["Body"][0].startswith("You have successfully been unsubscribed")


def test_a_forged_inbound_stop_is_refused(calling_back, make_twilio_channel, make_contact):
    channel = make_twilio_channel()
    make_contact(ANN)
    calling_back.auth_token = "not-this-channels-token"
    try:
        assert calling_back.send_inbound(channel.webhook_url("inbound"), ANN, "STOP") == 403
    finally:
        calling_back.auth_token = support.AUTH_TOKEN
    assert not Contact.objects.get(phone=ANN).is_opted_out

"""A test reply from the channel page, and the demo fakes' replies, take a real reply's path: over
HTTP to the channel's inbound address, signed (Twilio) or by token (Gupshup), parsed and acted on."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.db import OperationalError
from django.urls import reverse

from campaigns.models import OutboundMessage
from contacts.models import Suppression
from providers.fakes.replies import DEMO_REPLIES, DemoReplies
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.models import Channel, ReceivedEvent
from providers.sample_replies import sample_reply_for
from tests import test_twilio_support as support
from tests.browser import log_in, shot
from tests.conftest import run_worker

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
ANN = "+447911123456"


@pytest.fixture
def public_is_live(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll until ``check`` holds, with the receiving worker applying what the webhooks took."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run_worker()
            if check():
                return True
        except OperationalError as error:  # SQLite's shared in-memory test database, mid-write in the server
            if "locked" not in str(error):
                raise
        time.sleep(0.05)
    return check()


def gupshup_channel(**fields) -> Channel:
    return Channel.objects.create(
        name="Gupshup",
        provider="gswa",
        sender="917834811114",
        credentials={"apikey": "k", "app_name": "demo-app"},
        **fields,
    )


def send_test_reply(client, channel: Channel, phone: str, text: str):
    url = reverse("admin:providers_channel_test_reply", args=[channel.pk])
    return client.post(url, {"phone": phone, "text": text}, follow=True)


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_test_stop_reply_on_twilio_goes_through_the_signed_webhook(staff, public_is_live, make_twilio_channel):
    channel = make_twilio_channel()
    response = send_test_reply(staff, channel, "+44 7911 123456", "STOP")
    assert any("answered 200" in text for text in said(response)), said(response)
    run_worker()
    assert Suppression.objects.filter(number=ANN).exists()


def test_a_test_reply_on_whatsapp_comes_from_a_whatsapp_number(make_twilio_channel):
    reply = sample_reply_for(make_twilio_channel("twlowa"), ANN, "Hi")
    assert reply.form["From"] == f"whatsapp:{ANN}"
    assert reply.form["To"] == f"whatsapp:{support.SENDER}"
    assert reply.url.endswith("/inbound")


def test_a_test_reply_on_gupshup_goes_to_the_callback_address(staff, public_is_live):
    channel = gupshup_channel()
    response = send_test_reply(staff, channel, ANN, "stop")
    assert any("answered 200" in text for text in said(response)), said(response)
    run_worker()
    assert Suppression.objects.filter(number=ANN).exists()


def test_an_address_that_does_not_answer_is_named_as_the_reason(staff, make_twilio_channel, settings, live_server):
    """PUBLIC_BASE_URL not where this site answers: the reply gets a 404 there, and staff are told."""
    settings.PUBLIC_BASE_URL = live_server.url + "/elsewhere"
    response = send_test_reply(staff, make_twilio_channel(), ANN, "STOP")
    assert any("did not arrive: the webhook answered HTTP 404" in text for text in said(response)), said(response)
    assert not Suppression.objects.filter(number=ANN).exists()


def test_the_number_is_checked_and_named(staff, make_twilio_channel):
    channel = make_twilio_channel()
    response = send_test_reply(staff, channel, "12", "Hi")
    assert response.status_code == 200
    assert "From" in response.content.decode()
    assert "12" in str(response.context["form"].errors["phone"])


def test_channels_that_pass_on_no_replies_offer_no_test_reply(staff, channel):
    page = staff.get(reverse("admin:providers_channel_change", args=[channel.pk])).content.decode()
    assert "Send a test reply" not in page
    response = staff.get(reverse("admin:providers_channel_test_reply", args=[channel.pk]), follow=True)
    assert any("passes on no replies" in text for text in said(response))


def test_marketing_may_not_send_test_replies(client, marketing_staff, make_twilio_channel):
    client.force_login(marketing_staff)
    channel = make_twilio_channel()
    response = client.post(reverse("admin:providers_channel_test_reply", args=[channel.pk]), {"phone": ANN})
    assert response.status_code == 403


def test_demo_replies_are_a_share_of_recipients_and_repeatable():
    first = DemoReplies(rate=0.05, seed=7)
    again = DemoReplies(rate=0.05, seed=7)
    answers = [first.pick() for _ in range(4000)]
    assert answers == [again.pick() for _ in range(4000)]
    replied = [text for text in answers if text]
    assert 120 < len(replied) < 280  # about 5% of 4,000
    assert set(replied) <= {text for text, _ in DEMO_REPLIES} and "STOP" in replied
    with pytest.raises(ValueError, match="--reply-rate"):
        DemoReplies(rate=5)


def settled(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll, reading only, until ``check`` holds: the fake's callbacks are written by the live server's
    threads, and SQLite's shared in-memory test database takes one writer at a time (a worker run
    meanwhile could make a callback fail, which the fake does not retry)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    return check()


def inbound_calls(fake) -> list[tuple[str, str, int]]:
    return [(p["From"], p["Body"], answer) for url, p, answer in fake.callbacks if url.endswith("/inbound")]


def test_the_twilio_fake_makes_recipients_reply_after_delivery(
    public_is_live, fake_twilio, make_twilio_channel, worker
):
    channel = make_twilio_channel()
    fake_twilio.send_callbacks = True
    fake_twilio.inbound_urls[channel.sender] = channel.webhook_url("inbound")
    fake_twilio.replies = DemoReplies(rate=1.0, seed=1, delay=0.05)
    fake_twilio.replies.pick = lambda: "STOP"  # everyone replies STOP
    OutboundMessage.send_one(channel=channel, to=ANN, text="Spring sale Saturday")
    worker()
    assert settled(lambda: len(inbound_calls(fake_twilio)) == 1)
    worker()  # applies the receipts and the STOP, and sends the STOP's confirmation
    assert Suppression.objects.filter(number=ANN).exists()
    # Ann answers our STOP's confirmation with STOP too (everyone replies here): it confirms nothing more.
    assert settled(lambda: len(inbound_calls(fake_twilio)) == 2)
    worker()
    assert inbound_calls(fake_twilio) == [(ANN, "STOP", 200)] * 2
    assert OutboundMessage.objects.filter(to=ANN, confirms_opt_out=True).count() == 1


def test_the_gupshup_fake_makes_recipients_reply_after_delivery(public_is_live, worker):
    replies = DemoReplies(rate=1.0, seed=1, delay=0.05)
    replies.pick = lambda: "STOP"
    with FakeGupshup(GupshupConfig("k", "demo-app", replies=replies)) as fake:
        fake.behaviour.callback_delay = 0.05
        channel = gupshup_channel(api_base_url=fake.base_url)
        fake.config.callback_url = channel.webhook_url("events")
        OutboundMessage.send_one(channel=channel, to=ANN, text="Spring sale")
        worker()
        taken = ReceivedEvent.objects.filter(kind=ReceivedEvent.Kind.INBOUND)
        assert settled(taken.exists)  # the reply, taken by the webhook
        worker()
        assert Suppression.objects.filter(number=ANN).exists()


def test_an_administrator_sends_a_test_reply_from_the_channel_page(page, public_is_live, administrator, fake_twilio):
    channel = Channel.objects.create(
        name="Demo Twilio SMS (fake)",
        provider="twlo",
        sender=support.SENDER,
        credentials={"account_sid": support.ACCOUNT_SID, "auth_token": support.AUTH_TOKEN},
        api_base_url=fake_twilio.base_url,
    )
    log_in(page, public_is_live, administrator.username, reverse("admin:providers_channel_change", args=[channel.pk]))
    page.click("text=Send a test reply")
    page.fill("#id_phone", ANN)
    page.fill("#id_text", "STOP")
    shot(page, "test-reply-form")
    page.click("input[value='Send the test reply']")
    page.wait_for_selector(".messagelist .success")
    shot(page, "test-reply-sent")
    assert "answered 200" in page.inner_text(".messagelist")
    run_worker()
    assert Suppression.objects.filter(number=ANN).exists()


def test_the_demo_reply_rate_is_checked_and_named(monkeypatch):
    from django.core.management.base import CommandError

    from campaigns.management.commands.setup_demo import DEMO_REPLY_RATE, demo_reply_rate

    monkeypatch.delenv("DEMO_REPLY_RATE", raising=False)
    assert demo_reply_rate(None) == DEMO_REPLY_RATE
    assert demo_reply_rate(0.0) == 0.0
    monkeypatch.setenv("DEMO_REPLY_RATE", "0.2")
    assert demo_reply_rate(None) == 0.2
    monkeypatch.setenv("DEMO_REPLY_RATE", "lots")
    with pytest.raises(CommandError, match="DEMO_REPLY_RATE: 'lots' is not a number"):
        demo_reply_rate(None)
    with pytest.raises(CommandError, match="between 0 and 1"):
        demo_reply_rate(3.0)

"""A bulk request acted on whose answer is an HTTP 5xx or cannot be read leaves its messages unknown.

The loopback fakes of Twilio's 1:Many endpoint and of the sendbulk gateway really create the
messages (and would report them delivered), then answer broken. Sending the messages again
would send them twice, so they stay `unknown` and no second request goes, unless the provider
drops repeats of our id.
"""

from __future__ import annotations

import pytest

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from providers.fakes.server import Behaviour
from providers.models import Channel
from providers.sendbulk.fake import FakeSendbulk, SendbulkConfig
from providers.sendbulk.provider import SendbulkProvider
from providers.twilio.provider import TwilioSmsProvider
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
Status = OutboundMessage.Status
NUMBERS = ["+447911123456", "+447911123457", "+447911123458"]
BROKEN = [
    pytest.param(Behaviour(bulk_answer="error", bulk_error_status=500, callback_delay=5), "http_500", id="500"),
    pytest.param(Behaviour(bulk_answer="error", bulk_error_status=503, callback_delay=5), "http_503", id="503"),
    pytest.param(Behaviour(bulk_answer="garbage", callback_delay=5), "unreadable_answer", id="garbage"),
]


@pytest.fixture(scope="module")
def sendbulk_server():
    with FakeSendbulk() as server:
        yield server


@pytest.fixture
def fake_sendbulk(sendbulk_server):
    sendbulk_server.reset(SendbulkConfig(partner_id="7788", apikey="sb-key"))
    return sendbulk_server


@pytest.fixture
def sendbulk_channel(fake_sendbulk) -> Channel:
    return Channel.objects.create(
        name="Sendbulk",
        provider="sendbulk",
        sender="ACME_LTD",
        credentials={"partner_id": "7788", "apikey": "sb-key"},
        api_base_url=f"{fake_sendbulk.base_url}/api/services",
        rate_limit=10_000,
    )


def queue_messages(channel: Channel) -> list[int]:
    return [OutboundMessage.send_one(channel=channel, to=to, text="Hello").pk for to in NUMBERS]


def states(ids: list[int]) -> list[tuple[str, str]]:
    return list(OutboundMessage.objects.filter(pk__in=ids).order_by("pk").values_list("status", "error_code"))


@pytest.mark.parametrize(("behaviour", "code"), BROKEN)
def test_twilio_bulk_acted_on_then_broken_answer_leaves_messages_unknown(
    fake_twilio, make_twilio_channel, behaviour, code
):
    fake_twilio.behaviour = behaviour
    ids = queue_messages(make_twilio_channel(options={"bulk_mode": True}, rate_limit=1000))
    send_messages(ids)
    assert len(fake_twilio.messages) == 3  # Twilio did create them
    assert states(ids) == [(Status.UNKNOWN, code)] * 3
    requests_so_far = len(fake_twilio.received)
    send_messages(ids)
    assert len(fake_twilio.received) == requests_so_far  # never sent again
    assert states(ids) == [(Status.UNKNOWN, code)] * 3


@pytest.mark.parametrize(("behaviour", "code"), BROKEN)
def test_sendbulk_acted_on_then_broken_answer_leaves_messages_unknown(fake_sendbulk, sendbulk_channel, behaviour, code):
    fake_sendbulk.behaviour = behaviour
    ids = queue_messages(sendbulk_channel)
    send_messages(ids)
    assert len(fake_sendbulk.messages) == 3  # the gateway did take them
    assert states(ids) == [(Status.UNKNOWN, code)] * 3
    send_messages(ids)
    assert fake_sendbulk.batch_sizes == [3]  # one request, never a second


@pytest.mark.parametrize("provider_class", [TwilioSmsProvider, SendbulkProvider])
def test_a_provider_that_drops_repeats_of_our_id_gets_them_again(
    fake_twilio, make_twilio_channel, sendbulk_channel, fake_sendbulk, monkeypatch, provider_class
):
    monkeypatch.setattr(provider_class, "deduplicates_by_our_id", True)
    broken = Behaviour(bulk_answer="error", bulk_error_status=502, callback_delay=5)
    fake_twilio.behaviour = fake_sendbulk.behaviour = broken
    twilio = make_twilio_channel(options={"bulk_mode": True}, rate_limit=1000)
    ids = queue_messages(twilio if provider_class is TwilioSmsProvider else sendbulk_channel)
    send_messages(ids)
    assert {status for status, _ in states(ids)} == {Status.QUEUED}  # safe to send again


def test_a_rate_limited_bulk_request_is_still_retried(fake_sendbulk, sendbulk_channel):
    fake_sendbulk.behaviour = Behaviour(rate_limit=1)  # 429 before acting: nothing was taken
    ids = queue_messages(sendbulk_channel)
    send_messages(ids)
    assert {status for status, _ in states(ids)} == {Status.QUEUED}
    assert fake_sendbulk.messages == {}

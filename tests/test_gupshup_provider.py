"""The Gupshup WhatsApp provider against its loopback fake, over real HTTP."""

from __future__ import annotations

import json
import socket

import pytest

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from providers.base import ChannelError, MessageRefused, Outcome, OutgoingMessage
from providers.gupshup.fake import FakeGupshup, GupshupConfig
from providers.gupshup.provider import GupshupWhatsAppProvider
from providers.models import Channel

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db

TO = "+447911123456"


@pytest.fixture(scope="module")
def server():
    with FakeGupshup() as server:
        yield server


@pytest.fixture
def fake(server):
    server.reset(GupshupConfig(apikey="gs-key", app_name="shopapp"))
    return server


@pytest.fixture
def gupshup_channel(fake) -> Channel:
    return Channel.objects.create(
        name="Gupshup",
        provider="gswa",
        sender="+15550001111",
        credentials={"apikey": "gs-key", "app_name": "shopapp"},
        api_base_url=fake.base_url,
        rate_limit=1000,
    )


def provider_for(channel: Channel) -> GupshupWhatsAppProvider:
    return GupshupWhatsAppProvider(channel)


def send(channel: Channel, **fields) -> object:
    message = OutgoingMessage(id=fields.pop("id", 1), to=fields.pop("to", TO), **fields)
    return provider_for(channel).send_batch([message])[0]


# --- what we send ----------------------------------------------------------------------------


def test_a_text_message_is_posted_form_encoded_with_the_apikey_header(fake, gupshup_channel):
    result = send(gupshup_channel, text="Hello Ann")
    assert result.outcome == Outcome.ACCEPTED
    assert result.provider_message_id == fake.sent[0].gupshup_id
    request = fake.received[0]
    assert (request.method, request.path) == ("POST", "/wa/api/v1/msg")
    assert request.headers["apikey"] == "gs-key"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {name: values[0] for name, values in request.form.items()}
    assert form == {
        "channel": "whatsapp",
        "source": "15550001111",
        "src.name": "shopapp",
        "destination": "447911123456",
        "message": json.dumps({"type": "text", "text": "Hello Ann"}),
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cdn.test/p/Photo.JPG",
            {
                "type": "image",
                "originalUrl": "https://cdn.test/p/Photo.JPG",
                "previewUrl": "https://cdn.test/p/Photo.JPG",
            },
        ),
        ("https://cdn.test/clip.mp4?sig=1", {"type": "video", "url": "https://cdn.test/clip.mp4?sig=1"}),
        (
            "https://cdn.test/docs/price%20list.pdf",
            {"type": "file", "url": "https://cdn.test/docs/price%20list.pdf", "filename": "price list.pdf"},
        ),
    ],
)
def test_media_goes_as_image_video_or_file_by_its_extension_with_the_text_as_caption(
    fake, gupshup_channel, url, expected
):
    result = send(gupshup_channel, text="See this", media_urls=(url,))
    assert result.outcome == Outcome.ACCEPTED
    assert fake.sent[0].message == {**expected, "caption": "See this"}


def test_media_without_text_has_no_caption(fake, gupshup_channel):
    send(gupshup_channel, media_urls=("https://cdn.test/a.png",))
    assert "caption" not in fake.sent[0].message


def test_a_template_sends_header_then_body_then_button_params_and_a_media_header(fake, gupshup_channel):
    template = {
        "id": "tpl-123",
        "variables": {
            "MEDIA_URL": "https://cdn.test/banner.png",
            "Body": {"2": "order 42", "1": "Ann", "10": "tenth"},
            "Buttons": {"1": "track/42"},
            "Header": {"1": "Spring sale"},
        },
    }
    result = send(gupshup_channel, template=template)
    assert result.outcome == Outcome.ACCEPTED
    request = fake.received[0]
    assert request.path == "/wa/api/v1/template/msg"
    sent = fake.sent[0]
    assert sent.template == {"id": "tpl-123", "params": ["Spring sale", "Ann", "order 42", "tenth", "track/42"]}
    assert sent.message == {"type": "image", "image": {"link": "https://cdn.test/banner.png"}}
    assert sent.form["src.name"] == "shopapp"


def test_a_template_with_a_document_header_names_the_file(fake, gupshup_channel):
    send(gupshup_channel, template={"id": "tpl-9", "variables": {"MEDIA_URL": "https://cdn.test/invoice.pdf"}})
    assert fake.sent[0].message == {
        "type": "document",
        "document": {"link": "https://cdn.test/invoice.pdf", "filename": "invoice.pdf"},
    }
    assert fake.sent[0].template == {"id": "tpl-9", "params": []}


def test_a_template_without_media_sends_no_message_field(fake, gupshup_channel):
    send(gupshup_channel, template={"id": "tpl-1", "variables": {"Body": {"1": "Ann"}}})
    assert "message" not in fake.sent[0].form


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (OutgoingMessage(1, TO, media_urls=("https://a.test/1.png", "https://a.test/2.png")), "one media file"),
        (OutgoingMessage(1, TO, template={"variables": {}}), "template"),
        (OutgoingMessage(1, TO, template={"id": "t", "variables": {"Body": ["Ann"]}}), "template.variables.Body"),
        (OutgoingMessage(1, TO, text="x" * 4097), "4096"),
    ],
)
def test_messages_gupshup_cannot_carry_are_refused_before_sending(fake, gupshup_channel, message, words):
    with pytest.raises(MessageRefused, match=words):
        provider_for(gupshup_channel).validate(message)


def test_a_batch_goes_in_parallel_and_each_message_gets_its_own_id(fake, gupshup_channel):
    messages = [OutgoingMessage(i, f"+44791112345{i}", text=f"Hi {i}") for i in range(1, 6)]
    results = provider_for(gupshup_channel).send_batch(messages)
    assert [r.message_id for r in results] == [1, 2, 3, 4, 5]
    assert all(r.outcome == Outcome.ACCEPTED for r in results)
    assert len({r.provider_message_id for r in results}) == 5


def test_a_batch_is_never_larger_than_one_second_of_the_channel_rate(gupshup_channel):
    gupshup_channel.rate_limit = 2
    assert provider_for(gupshup_channel).batch_size() == 2
    gupshup_channel.rate_limit = 0.5
    assert provider_for(gupshup_channel).batch_size() == 1


# --- how answers are classified ----------------------------------------------------------------


def test_a_wrong_apikey_is_a_channel_error(fake, gupshup_channel):
    gupshup_channel.credentials = {"apikey": "wrong", "app_name": "shopapp"}
    with pytest.raises(ChannelError, match="Authentication Failed"):
        send(gupshup_channel, text="Hi")


def test_a_wrong_app_name_is_a_channel_error(fake, gupshup_channel):
    gupshup_channel.credentials = {"apikey": "gs-key", "app_name": "otherapp"}
    with pytest.raises(ChannelError, match="Invalid App Details"):
        send(gupshup_channel, text="Hi")


def test_a_channel_without_a_sender_is_a_channel_error_naming_it(fake, gupshup_channel):
    gupshup_channel.sender = ""
    with pytest.raises(ChannelError, match="sender"):
        send(gupshup_channel, text="Hi")
    assert fake.received == []


def test_a_refused_recipient_fails_with_gupshups_message(fake, gupshup_channel):
    fake.config.refuse["447911123456"] = (400, "Invalid Destination")
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code, result.error_message) == (
        Outcome.FAILED,
        "http_400",
        "Invalid Destination",
    )


def test_too_many_requests_is_retried_after_what_gupshup_asks(fake, gupshup_channel):
    fake.behaviour.rate_limit = 1
    first, second = (send(gupshup_channel, id=i, text="Hi") for i in (1, 2))
    assert first.outcome == Outcome.ACCEPTED
    assert (second.outcome, second.error_code, second.retry_after) == (Outcome.RETRY, "http_429", 1.0)


def test_a_server_error_is_retried(fake, gupshup_channel):
    fake.behaviour.error_rate = 1.0
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code) == (Outcome.RETRY, "http_500")


def test_a_request_that_never_left_is_retried(gupshup_channel):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gupshup_channel.api_base_url = f"http://127.0.0.1:{port}"
    gupshup_channel.enter_credentials(gupshup_channel.credentials)  # a new address: credentials typed again
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code) == (Outcome.RETRY, "not_sent")


def test_no_answer_in_time_is_unknown_and_never_resent(fake, gupshup_channel, settings):
    settings.PROVIDER_READ_TIMEOUT = 0.2
    fake.behaviour.latency = 1.0
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "no_answer")


def test_an_unreadable_success_is_unknown(fake, gupshup_channel, monkeypatch):
    from providers.fakes.server import FakeResponse

    monkeypatch.setattr(fake, "session_message", lambda request: FakeResponse(202, b"<html>ok</html>"))
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "http_202")


def test_an_error_status_in_a_success_answer_is_still_a_refusal(fake, gupshup_channel, monkeypatch):
    from providers.fakes.server import FakeResponse

    refusal = FakeResponse(200, {"status": "error", "message": "Invalid Destination"})
    monkeypatch.setattr(fake, "session_message", lambda request: refusal)
    result = send(gupshup_channel, text="Hi")
    assert (result.outcome, result.error_code, result.error_message) == (
        Outcome.FAILED,
        "http_200",
        "Invalid Destination",
    )


def test_the_pipeline_pauses_the_channel_on_bad_credentials_and_keeps_the_message(fake, gupshup_channel):
    gupshup_channel.credentials = {"apikey": "revoked", "app_name": "shopapp"}
    gupshup_channel.save()
    message = OutboundMessage.send_one(channel=gupshup_channel, to=TO, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    gupshup_channel.refresh_from_db()
    assert message.status == Status.QUEUED
    assert "Authentication Failed" in gupshup_channel.paused_reason


def test_the_pipeline_records_gupshups_id_as_sent(fake, gupshup_channel):
    message = OutboundMessage.send_one(channel=gupshup_channel, to=TO, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id == fake.sent[0].gupshup_id


# --- check credentials -------------------------------------------------------------------------


def test_check_credentials_lists_the_apps_templates(fake, gupshup_channel):
    answer = provider_for(gupshup_channel).check_credentials()
    assert answer == "Gupshup accepted the API key for app 'shopapp' (3 templates listed)."
    assert fake.received[-1].path == "/sm/api/v1/template/list/shopapp"


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        ({"apikey": "wrong", "app_name": "shopapp"}, "Authentication Failed"),
        ({"apikey": "gs-key", "app_name": "nope"}, "Invalid App Details"),
        ({"apikey": "gs-key"}, "Missing credentials: app_name"),
    ],
)
def test_check_credentials_says_what_is_wrong(fake, gupshup_channel, credentials, words):
    gupshup_channel.credentials = credentials
    with pytest.raises(ChannelError, match=words):
        provider_for(gupshup_channel).check_credentials()


def test_the_apikey_never_appears_in_logs(fake, gupshup_channel, caplog):
    caplog.set_level("DEBUG", logger="providers.http")
    send(gupshup_channel, text="Hi")
    assert caplog.records
    assert "gs-key" not in caplog.text

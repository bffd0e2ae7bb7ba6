"""Every request the Twilio providers build, checked against Twilio's own OpenAPI excerpts.

The requests travel over real HTTP to the loopback FakeTwilio; the tests read what it received.
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import parse_qs

import pytest

from providers.base import MessageRefused, Outcome, OutgoingMessage
from providers.registry import provider_for
from providers.twilio.fake import FakeTwilio
from tests import test_twilio_support as support
from tests.test_twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CONTENT_SID,
    SENDER,
    SERVICE_SID,
    account_response_errors,
    bulk_request_errors,
    bulk_response_errors,
    message_request_errors,
    message_response_errors,
)

pytestmark = pytest.mark.django_db
# The shared fixtures (pytest finds fixtures by name in the test module).
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
ANN, BOB, CAT = "+447911123456", "+447911123457", "+447911123458"


def sent_form(fake: FakeTwilio, index: int = -1) -> dict[str, list[str]]:
    return parse_qs(fake.received[index].body.decode())


def test_an_sms_is_a_form_post_to_the_account_messages_resource(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel()
    [result] = provider_for(channel).send_batch([OutgoingMessage(id=41, to=ANN, text="Hello Ann")])

    request = fake_twilio.received[-1]
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert message_request_errors(request.body) == []
    assert sent_form(fake_twilio) == {
        "To": [ANN],
        "From": [SENDER],
        "Body": ["Hello Ann"],
        "StatusCallback": [f"{channel.webhook_url('status')}?m=41"],
    }
    assert result.outcome == Outcome.ACCEPTED
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34
    assert result.provider_message_id in fake_twilio.messages


def test_media_urls_repeat_the_media_field(fake_twilio, make_twilio_channel):
    media = ("https://cdn.example.com/a.png", "https://cdn.example.com/b.jpg")
    message = OutgoingMessage(id=7, to=ANN, text="Look", media_urls=media)
    [result] = provider_for(make_twilio_channel()).send_batch([message])

    assert message_request_errors(fake_twilio.received[-1].body) == []
    assert sent_form(fake_twilio)["MediaUrl"] == list(media)
    assert result.outcome == Outcome.ACCEPTED and result.provider_message_id.startswith("MM")


def test_a_messaging_service_sender_goes_as_messaging_service_sid(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(sender=SERVICE_SID)
    [result] = provider_for(channel).send_batch([OutgoingMessage(id=8, to=ANN, text="Hi")])

    form = sent_form(fake_twilio)
    assert message_request_errors(fake_twilio.received[-1].body) == []
    assert form["MessagingServiceSid"] == [SERVICE_SID] and "From" not in form
    assert result.outcome == Outcome.ACCEPTED  # Twilio answers "accepted", not "queued", for a service


def test_a_whatsapp_template_goes_as_content_sid_and_a_json_string_of_variables(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel("twlowa")
    template = {"id": CONTENT_SID, "variables": {"1": "Ann", "2": 3}}
    [result] = provider_for(channel).send_batch([OutgoingMessage(id=9, to=ANN, template=template)])

    form = sent_form(fake_twilio)
    assert message_request_errors(fake_twilio.received[-1].body) == []
    assert form["To"] == [f"whatsapp:{ANN}"] and form["From"] == [f"whatsapp:{SENDER}"]
    assert form["ContentSid"] == [CONTENT_SID]
    assert json.loads(form["ContentVariables"][0]) == {"1": "Ann", "2": "3"}
    assert "Body" not in form
    assert form["StatusCallback"] == [f"{channel.webhook_url('status')}?m=9"]
    assert "/webhooks/twlowa/" in form["StatusCallback"][0]
    assert result.outcome == Outcome.ACCEPTED


def test_whatsapp_free_form_text_and_one_media_file(fake_twilio, make_twilio_channel):
    message = OutgoingMessage(id=10, to=ANN, text="Your order", media_urls=("https://cdn.example.com/r.pdf",))
    [result] = provider_for(make_twilio_channel("twlowa")).send_batch([message])

    form = sent_form(fake_twilio)
    assert message_request_errors(fake_twilio.received[-1].body) == []
    assert (form["To"], form["Body"], form["MediaUrl"]) == (
        [f"whatsapp:{ANN}"],
        ["Your order"],
        ["https://cdn.example.com/r.pdf"],
    )
    assert result.outcome == Outcome.ACCEPTED


def test_the_fakes_answers_have_twilios_shapes(fake_twilio, make_twilio_channel):
    """The fake must answer like Twilio, or the tests above prove nothing about the real thing."""
    provider_for(make_twilio_channel()).send_batch([OutgoingMessage(id=11, to=ANN, text="Hi")])
    created = next(iter(fake_twilio.messages.values()))
    answer = {k: v for k, v in created.items() if k not in ("media", "fields")}
    assert message_response_errors(answer) == []
    assert answer["status"] == "queued"

    response = fake_twilio.fetch_account(fake_twilio.received[-1])
    assert account_response_errors(response.body) == []


def test_a_batch_goes_out_all_at_once(fake_twilio, make_twilio_channel, monkeypatch):
    """Twilio takes one message a request: a batch's requests are all in flight together."""
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()
    original = fake_twilio.create_message

    def counting(request):
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            threading.Event().wait(0.05)
            return original(request)
        finally:
            with lock:
                in_flight["now"] -= 1

    monkeypatch.setattr(fake_twilio, "create_message", counting)
    provider = provider_for(make_twilio_channel(rate_limit=100))
    messages = [OutgoingMessage(id=i, to=f"+4479111234{i:02d}", text=f"n{i}") for i in range(provider.batch_size())]
    results = provider.send_batch(messages)

    assert [r.message_id for r in results] == [m.id for m in messages]
    assert all(r.outcome == Outcome.ACCEPTED for r in results), {(r.outcome, r.error_message) for r in results}
    assert len({r.provider_message_id for r in results}) == len(messages)
    assert len(messages) == 50
    assert in_flight["most"] > 8  # the thread pool it replaced kept 8 (the threaded fake accepts ~20 at once)


def test_the_batch_never_exceeds_one_second_of_the_channels_rate(make_twilio_channel):
    assert provider_for(make_twilio_channel(rate_limit=1)).batch_size() == 1
    assert provider_for(make_twilio_channel(rate_limit=10)).batch_size() == 10
    assert provider_for(make_twilio_channel(rate_limit=50)).batch_size() == 50
    # Whole batches fill the rate limiter's window, each small enough to leave within a few ms.
    assert provider_for(make_twilio_channel(rate_limit=1000)).batch_size() == 50
    assert provider_for(make_twilio_channel(rate_limit=4000)).batch_size() == 100
    # Two batches fit in what a worker keeps in flight (256), so none waits for a free connection.
    assert provider_for(make_twilio_channel(rate_limit=100_000)).batch_size() == 127  # 787 a window


# --- refused before sending ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "message", "expected"),
    [
        ("twlo", OutgoingMessage(id=1, to=ANN, text="x" * 1601), "at most 1,600 characters; this message has 1,601"),
        ("twlo", OutgoingMessage(id=1, to=ANN, media_urls=tuple(f"https://x.test/{i}" for i in range(11))), "has 11"),
        ("twlowa", OutgoingMessage(id=1, to=ANN, media_urls=("https://x.test/1", "https://x.test/2")), "at most 1"),
        ("twlo", OutgoingMessage(id=1, to=ANN, media_urls=("ftp://x.test/a.png",)), "'ftp://x.test/a.png'"),
        ("twlowa", OutgoingMessage(id=1, to=ANN, template={"id": "welcome", "variables": {}}), "'welcome'"),
        ("twlowa", OutgoingMessage(id=1, to=ANN, template={"id": CONTENT_SID, "variables": ["Ann"]}), "variables"),
        ("twlo", OutgoingMessage(id=1, to=ANN), "needs text, media or a template"),
    ],
)
def test_messages_twilio_cannot_take_are_refused_naming_why(make_twilio_channel, provider, message, expected):
    with pytest.raises(MessageRefused, match=expected.replace("(", r"\(")):
        provider_for(make_twilio_channel(provider)).validate(message)


def test_a_body_of_exactly_1600_characters_is_allowed(make_twilio_channel):
    provider_for(make_twilio_channel()).validate(OutgoingMessage(id=1, to=ANN, text="x" * 1600))


# --- bulk mode -----------------------------------------------------------------------------------


def test_bulk_mode_sends_many_recipients_in_one_request_that_matches_the_spec(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(options={"bulk_mode": True})
    fake_twilio.invalid_numbers.add(BOB)
    fake_twilio.unsubscribed.add(CAT)
    messages = [OutgoingMessage(id=100 + i, to=to, text=f"Hi {i}") for i, to in enumerate([ANN, BOB, CAT])]
    results = {r.message_id: r for r in provider_for(channel).send_batch(messages)}

    [request] = fake_twilio.received
    assert (request.method, request.path) == ("POST", "/v1/Messages")
    payload = request.json()
    assert bulk_request_errors(payload) == []
    assert payload["Messages"] == [{"To": to, "Body": f"Hi {i}"} for i, to in enumerate([ANN, BOB, CAT])]
    assert payload["From"] == SENDER
    assert payload["StatusCallback"] == channel.webhook_url("status")

    assert results[100].outcome == Outcome.ACCEPTED and results[100].provider_message_id in fake_twilio.messages
    assert (results[101].outcome, results[101].error_code) == (Outcome.FAILED, "21211")
    assert (results[102].outcome, results[102].error_code, results[102].opted_out) == (Outcome.FAILED, "21610", True)


def test_bulk_mode_groups_messages_by_template_and_sends_variables_as_objects(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel("twlowa", sender=SERVICE_SID, options={"bulk_mode": True})
    template = {"id": CONTENT_SID, "variables": {"1": "{{ name }}"}}
    messages = [
        OutgoingMessage(id=1, to=ANN, template={**template, "variables": {"1": "Ann"}}),
        OutgoingMessage(id=2, to=BOB, text="free text", media_urls=("https://cdn.example.com/m.png",)),
        OutgoingMessage(id=3, to=CAT, template={**template, "variables": {"1": "Cat"}}),
    ]
    results = provider_for(channel).send_batch(messages)

    payloads = [r.json() for r in fake_twilio.received]
    assert all(bulk_request_errors(p) == [] for p in payloads), [bulk_request_errors(p) for p in payloads]
    by_kind = {("ContentSid" in p): p for p in payloads}
    assert by_kind[True]["ContentSid"] == CONTENT_SID
    assert by_kind[True]["Messages"] == [
        {"To": f"whatsapp:{ANN}", "ContentVariables": {"1": "Ann"}},
        {"To": f"whatsapp:{CAT}", "ContentVariables": {"1": "Cat"}},
    ]
    assert by_kind[False]["MediaUrl"] == ["https://cdn.example.com/m.png"]
    assert by_kind[True]["MessagingServiceSid"] == SERVICE_SID and "From" not in by_kind[True]
    assert sorted(r.message_id for r in results if r.outcome == Outcome.ACCEPTED) == [1, 2, 3]


def test_the_fakes_bulk_answer_has_the_specs_shape(fake_twilio, make_twilio_channel):
    fake_twilio.invalid_numbers.add(BOB)
    channel = make_twilio_channel(options={"bulk_mode": True})
    provider_for(channel).send_batch([OutgoingMessage(id=1, to=ANN, text="a"), OutgoingMessage(id=2, to=BOB, text="b")])
    answer = fake_twilio.create_messages_in_bulk(fake_twilio.received[-1])
    assert answer.status == 200
    assert bulk_response_errors(answer.body) == []


def test_bulk_batch_size_is_the_channels_up_to_ten_thousand(make_twilio_channel):
    assert provider_for(make_twilio_channel(options={"bulk_mode": True})).batch_size() == 100
    assert provider_for(make_twilio_channel(options={"bulk_mode": True}, batch_size=5000)).batch_size() == 5000
    assert provider_for(make_twilio_channel(options={"bulk_mode": True}, batch_size=50_000)).batch_size() == 10_000


def test_bulk_mode_uses_its_own_base_url_when_configured(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(
        api_base_url="http://127.0.0.1:9", options={"bulk_mode": True, "bulk_api_base_url": fake_twilio.base_url}
    )
    [result] = provider_for(channel).send_batch([OutgoingMessage(id=1, to=ANN, text="a")])
    assert result.outcome == Outcome.ACCEPTED
    assert [r.path for r in fake_twilio.received] == ["/v1/Messages"]

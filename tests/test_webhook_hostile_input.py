"""Hostile bodies posted to the provider webhooks get a JSON 4xx naming the field, never a 500 or HTML.

Anyone who learns a webhook address can post to it: deep nesting, NUL characters (PostgreSQL
refuses them in text), lone surrogates (not storable as UTF-8), huge bodies, odd encodings. The
fuzz test at the end throws generated JSON at the JSON webhooks.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import OutboundMessage
from providers.models import Channel
from providers.twilio.signature import compute_signature
from providers.webhook_input import MAX_BODY_BYTES, MAX_DEPTH
from tests.conftest import run_worker
from tests.test_twilio_support import ACCOUNT_SID, AUTH_TOKEN, SENDER

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
GS_ID = "ee4a68a0-1203-4c85-8dc3-49d0b3226a35"
SID = "SM" + "ab" * 16


@pytest.fixture
def gupshup(db) -> Channel:
    return Channel.objects.create(name="Gupshup", provider="gswa", sender="+15550001111", credentials={"apikey": "k"})


@pytest.fixture
def sendbulk(db) -> Channel:
    return Channel.objects.create(name="Sendbulk", provider="sendbulk", sender="ACME", api_base_url="http://x")


@pytest.fixture
def twilio(db) -> Channel:
    credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    return Channel.objects.create(name="Twilio", provider="twlo", sender=SENDER, credentials=credentials)


@pytest.fixture
def sent(gupshup) -> OutboundMessage:
    return OutboundMessage.objects.create(
        channel=gupshup, to="+447911123456", status=Status.SENT, provider_message_id=GS_ID
    )


def gupshup_url(channel: Channel) -> str:
    return f"/webhooks/gswa/{channel.webhook_token}/events"


def sendbulk_url(channel: Channel) -> str:
    return f"/webhooks/sendbulk/{channel.webhook_token}/dlr"


def v2_delivered(gs_id: object = GS_ID) -> dict:
    payload = {"id": "wamid.X", "gsId": gs_id, "type": "delivered", "destination": "447911123456", "payload": {}}
    return {"app": "a", "timestamp": 1700000000000, "version": 2, "type": "message-event", "payload": payload}


def refused(response, status: int = 400) -> dict:
    """The answer is JSON with the given status and an error naming a field."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["field"] and body["error"].startswith(body["field"])
    return body


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# --- Gupshup ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 40_000])
def test_deeply_nested_json_is_refused_naming_the_body(client, gupshup, depth):
    body = refused(client.post(gupshup_url(gupshup), nested(depth), content_type="application/json"))
    assert "nested deeper than" in body["error"]


def test_a_nul_in_the_message_id_is_refused_naming_it(client, gupshup, sent):
    body = refused(client.post(gupshup_url(gupshup), v2_delivered("ee4a\x00"), content_type="application/json"))
    assert body["field"] == "payload.gsId"
    assert "NUL" in body["error"] and "'ee4a\\x00'" in body["error"]
    sent.refresh_from_db()
    assert sent.status == Status.SENT


def test_a_lone_surrogate_anywhere_is_refused_naming_where(client, gupshup, sent):
    event = v2_delivered()
    event["payload"]["payload"] = {"reason": "\ud800"}
    body = refused(client.post(gupshup_url(gupshup), json.dumps(event), content_type="application/json"))
    assert body["field"] == "payload.payload.reason"
    assert "lone surrogate" in body["error"]


def test_a_nul_in_a_key_is_refused(client, gupshup):
    body = refused(client.post(gupshup_url(gupshup), json.dumps({"a\x00": 1}), content_type="application/json"))
    assert body["field"] == "body key"


def test_a_message_id_that_is_not_text_is_refused(client, gupshup):
    body = refused(client.post(gupshup_url(gupshup), v2_delivered({"x": 1}), content_type="application/json"))
    assert body["field"] == "payload.gsId"


def test_an_overlong_message_id_is_refused(client, gupshup):
    body = refused(client.post(gupshup_url(gupshup), v2_delivered("x" * 101), content_type="application/json"))
    assert "longer than the 100 characters" in body["error"]


def test_a_huge_body_is_refused_before_it_is_read(client, gupshup):
    huge = json.dumps({"pad": "x" * (MAX_BODY_BYTES + 1)})
    body = refused(client.post(gupshup_url(gupshup), huge, content_type="application/json"), status=413)
    assert body["field"] == "body"


def test_latin1_bytes_are_refused_as_not_utf8(client, gupshup):
    body = refused(client.post(gupshup_url(gupshup), b'{"type": "caf\xe9"}', content_type="application/json"))
    assert "not UTF-8" in body["error"]


def test_utf16_json_is_read_like_utf8(client, gupshup, sent):
    response = client.post(
        gupshup_url(gupshup), json.dumps(v2_delivered()).encode("utf-16"), content_type="application/json"
    )
    assert response.status_code == 200
    run_worker()
    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED


# --- sendbulk --------------------------------------------------------------------------------------


def test_sendbulk_deep_nesting_is_refused(client, sendbulk):
    refused(client.post(sendbulk_url(sendbulk), nested(30_000), content_type="application/json"))


@pytest.mark.parametrize("as_form", [False, True])
def test_sendbulk_a_nul_in_the_message_id_is_refused(client, sendbulk, as_form):
    report = {"description": "DeliveredToTerminal", "messageid": "700\x00"}
    if as_form:
        response = client.post(sendbulk_url(sendbulk), report)
    else:
        response = client.post(sendbulk_url(sendbulk), json.dumps(report), content_type="application/json")
    assert refused(response)["field"] == "messageid"


def test_sendbulk_a_description_that_is_not_text_is_refused(client, sendbulk):
    report = {"description": {"deep": ["x"]}, "messageid": "700"}
    response = client.post(sendbulk_url(sendbulk), json.dumps(report), content_type="application/json")
    assert refused(response)["field"] == "description"


def test_sendbulk_a_huge_form_is_refused(client, sendbulk):
    response = client.post(sendbulk_url(sendbulk), {"messageid": "7", "pad": "x" * (MAX_BODY_BYTES + 1)})
    refused(response, status=413)


# --- Twilio (signed forms) ---------------------------------------------------------------------------


def post_signed(client, channel: Channel, params: dict, query: str = ""):
    url = channel.webhook_url("status") + (f"?{quote(query, safe='=&')}" if query else "")
    signature = compute_signature(AUTH_TOKEN, url, params)
    path = url.split("127.0.0.1:8000", 1)[1] if "127.0.0.1:8000" in url else url
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def status_params(**extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": SID, "MessageStatus": "delivered", "To": "+447911123456", **extra}


def test_twilio_a_signed_nul_in_the_message_sid_is_refused_naming_it(client, twilio):
    message = OutboundMessage.objects.create(channel=twilio, to="+447911123456", status=Status.SENT)
    body = refused(post_signed(client, twilio, status_params(MessageSid="SM\x00")))
    assert body["field"] == "MessageSid"
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_twilio_a_nul_anywhere_in_the_form_is_refused(client, twilio):
    assert refused(post_signed(client, twilio, status_params(ErrorMessage="a\x00b")))["field"] == "ErrorMessage"


@pytest.mark.parametrize("m", ["\u00b2", "1" * 40, "-1", "\uff11\uff12"])
def test_twilio_our_id_in_the_url_must_be_ascii_digits_of_a_sensible_length(client, twilio, m):
    assert refused(post_signed(client, twilio, status_params(), query=f"m={m}"))["field"] == "m"


def test_twilio_an_unsigned_hostile_form_is_still_a_403(client, twilio):
    url = twilio.webhook_url("status").split("127.0.0.1:8000", 1)[1]
    body = refused(client.post(url, status_params(MessageSid="SM\x00")), status=403)
    assert body["field"] == "X-Twilio-Signature"


def test_twilio_a_huge_form_is_refused_before_the_signature_is_checked(client, twilio):
    url = twilio.webhook_url("status").split("127.0.0.1:8000", 1)[1]
    refused(client.post(url, status_params(Body="x" * (MAX_BODY_BYTES + 1))), status=413)


# --- fuzzing -----------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0xFFFF), max_size=12) | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "delivered", "message-event", GS_ID]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)
SHAPED = st.fixed_dictionaries(
    {"type": st.sampled_from(["message-event", "message", "user-event"]), "payload": JSON}
) | st.fixed_dictionaries({"entry": JSON})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON | SHAPED, depth=st.integers(min_value=0, max_value=40))
def test_fuzzed_json_never_gets_a_500_or_html(client, gupshup, sendbulk, body, depth):
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    raw = b"[" * depth + raw + b"]" * depth
    for url in (gupshup_url(gupshup), sendbulk_url(sendbulk)):
        response = client.post(url, raw, content_type="application/json")
        assert response.status_code in (200, 400, 413), (url, raw[:200], response.content[:300])
        assert response["Content-Type"] == "application/json"


FORM_TEXT = st.text(st.characters(codec="utf-8", min_codepoint=0), max_size=20)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(st.sampled_from(["MessageSid", "MessageStatus", "To", "ErrorCode", "Body", "X"]), FORM_TEXT)
)
def test_fuzzed_signed_twilio_forms_never_get_a_500(client, twilio, fields):
    """Signed, so they pass the signature check and reach the parsing: a 200 or a JSON 400, nothing else."""
    response = post_signed(client, twilio, {"AccountSid": ACCOUNT_SID, **fields})
    assert response.status_code in (200, 400), (fields, response.content[:300])
    if response.status_code == 400:
        assert response["Content-Type"] == "application/json"

"""Twilio's calls to us: the signature check, status callbacks and inbound opt-out words."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlsplit

import pytest

from campaigns.models import OutboundMessage
from contacts.models import Contact
from providers.models import Channel, ReceivedEvent
from providers.twilio.signature import compute_signature, is_valid_signature
from tests.conftest import run_worker
from tests.test_twilio_support import ACCOUNT_SID, AUTH_TOKEN, SENDER

Status = OutboundMessage.Status
ANN = "+447911123456"
SID = "SM" + "ab" * 16


# --- the signature itself ------------------------------------------------------------------------

# Twilio's published example (its security docs and every official helper library's tests).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_the_signature_matches_twilios_published_example():
    assert compute_signature("12345", DOC_URL, DOC_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert is_valid_signature("12345", DOC_URL, DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_repeated_parameters_are_signed_as_twilio_signs_them():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert compute_signature("12345", DOC_URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("12345", DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", DOC_URL + "&baz=3", DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("54321", DOC_URL, DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", DOC_URL, DOC_PARAMS, ""),
        ("", DOC_URL, DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ],
    ids=["tampered value", "other url", "other token", "no signature", "no token"],
)
def test_anything_changed_breaks_the_signature(token, url, params, signature):
    assert not is_valid_signature(token, url, params, signature)


def test_the_default_port_may_or_may_not_be_in_the_signed_url():
    """Twilio's own validators accept both, since which one Twilio signed depends on the configured URL."""
    with_port = compute_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", DOC_PARAMS)
    assert is_valid_signature("12345", DOC_URL, DOC_PARAMS, with_port)
    assert is_valid_signature(
        "12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not is_valid_signature("12345", "https://mycompany.com:8443/myapp.php?foo=1&bar=2", DOC_PARAMS, with_port)


# --- the webhooks --------------------------------------------------------------------------------


@pytest.fixture
def twilio_channel(db) -> Channel:
    return Channel.objects.create(
        name="Twilio SMS",
        provider="twlo",
        sender=SENDER,
        credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )


@pytest.fixture
def sent_message(twilio_channel) -> OutboundMessage:
    return OutboundMessage.objects.create(channel=twilio_channel, to=ANN, status=Status.SENT, provider_message_id=SID)


def status_params(status: str, sid: str = SID, **extra: str) -> dict[str, str]:
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status}
    params.update({"SmsStatus": status, "To": ANN, "From": SENDER, "ApiVersion": "2010-04-01"})
    params.update(extra)
    return params


def post_signed(client, channel, kind, params, *, query="", token=AUTH_TOKEN, signed_url=None, signature=None):
    """POST as Twilio would: the signature covers our public URL of the webhook, query included.
    Then the receiving worker applies what the webhook took, as it would within a second."""
    url = channel.webhook_url(kind) + (f"?{query}" if query else "")
    if signature is None:
        signature = compute_signature(token, signed_url or url, params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    parts = urlsplit(url)
    response = client.post(parts.path + (f"?{parts.query}" if parts.query else ""), params, **headers)
    run_worker()
    return response


def test_a_callback_is_taken_in_one_row_and_applied_by_the_worker(client, twilio_channel, sent_message):
    params = status_params("delivered")
    url = twilio_channel.webhook_url("status")
    signature = compute_signature(AUTH_TOKEN, url, params)
    response = client.post(urlsplit(url).path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200
    [taken] = ReceivedEvent.objects.all()
    assert (taken.kind, taken.channel_id, taken.event["state"]) == ("receipt", twilio_channel.pk, "delivered")
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT  # the answer did not wait for the update

    run_worker()
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
    assert not ReceivedEvent.objects.exists()


def test_a_signed_delivery_receipt_marks_the_message_delivered(client, twilio_channel, sent_message):
    response = post_signed(client, twilio_channel, "status", status_params("delivered"))
    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED
    assert sent_message.delivered_at is not None


@pytest.mark.parametrize(
    "forge",
    [
        {"signature": ""},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"token": "another-accounts-token"},
        {"signed_url": "https://attacker.example/webhooks/twlo/x/status"},
    ],
    ids=["missing", "garbage", "wrong token", "wrong url"],
)
def test_an_unsigned_or_forged_callback_is_refused_and_changes_nothing(client, twilio_channel, sent_message, forge):
    response = post_signed(client, twilio_channel, "status", status_params("delivered"), **forge)
    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT


def test_a_tampered_parameter_is_refused(client, twilio_channel, sent_message):
    params = status_params("delivered")
    signature = compute_signature(AUTH_TOKEN, twilio_channel.webhook_url("status"), params)
    response = post_signed(client, twilio_channel, "status", {**params, "MessageStatus": "failed"}, signature=signature)
    assert response.status_code == 403
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT


def test_a_tampered_query_string_is_refused(client, twilio_channel, sent_message):
    params = status_params("delivered")
    signature = compute_signature(AUTH_TOKEN, twilio_channel.webhook_url("status") + "?m=999999", params)
    response = post_signed(client, twilio_channel, "status", params, query=f"m={sent_message.pk}", signature=signature)
    assert response.status_code == 403


def test_the_signed_url_is_the_public_one_not_the_host_we_see(client, twilio_channel, sent_message, settings):
    """Behind a reverse proxy Twilio calls the public address; the request reaches us under another host."""
    settings.PUBLIC_BASE_URL = "https://sms.example.com/gateway"
    settings.ALLOWED_HOSTS = ["internal.local"]
    params = status_params("delivered")
    public_url = twilio_channel.webhook_url("status")
    assert public_url.startswith("https://sms.example.com/gateway/webhooks/twlo/")
    signature = compute_signature(AUTH_TOKEN, public_url, params)
    path = urlsplit(public_url).path.removeprefix("/gateway")  # the proxy strips its prefix
    response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, HTTP_HOST="internal.local")
    assert response.status_code == 200
    run_worker()
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


def test_only_post_is_accepted(client, twilio_channel):
    assert client.get(urlsplit(twilio_channel.webhook_url("status")).path).status_code == 405


def test_an_unknown_webhook_token_is_not_found(client, twilio_channel):
    params = status_params("delivered")
    url = twilio_channel.webhook_url("status").replace(twilio_channel.webhook_token, "no-such-token")
    response = client.post(
        urlsplit(url).path, params, HTTP_X_TWILIO_SIGNATURE=compute_signature(AUTH_TOKEN, url, params)
    )
    assert response.status_code == 404


def test_a_channel_answers_only_under_its_own_provider(client, twilio_channel):
    params = status_params("delivered")
    url = twilio_channel.webhook_url("status").replace("/twlo/", "/twlowa/")
    response = client.post(
        urlsplit(url).path, params, HTTP_X_TWILIO_SIGNATURE=compute_signature(AUTH_TOKEN, url, params)
    )
    assert response.status_code == 404


def test_the_same_callback_twice_changes_nothing_the_second_time(client, twilio_channel, sent_message):
    post_signed(client, twilio_channel, "status", status_params("delivered"))
    sent_message.refresh_from_db()
    first = (sent_message.status, sent_message.delivered_at, sent_message.updated_at)
    response = post_signed(client, twilio_channel, "status", status_params("delivered"))
    assert response.status_code == 200
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.delivered_at, sent_message.updated_at) == first


def test_a_late_sent_never_takes_a_delivered_message_back(client, twilio_channel, sent_message):
    post_signed(client, twilio_channel, "status", status_params("delivered"))
    post_signed(client, twilio_channel, "status", status_params("sent"))
    post_signed(client, twilio_channel, "status", status_params("queued"))
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


def test_whatsapp_read_follows_delivered(client, db):
    channel = Channel.objects.create(
        name="WA", provider="twlowa", sender=SENDER, credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    message = OutboundMessage.objects.create(channel=channel, to=ANN, status=Status.SENT, provider_message_id=SID)
    for status in ("delivered", "read", "delivered"):
        assert post_signed(client, channel, "status", status_params(status, To=f"whatsapp:{ANN}")).status_code == 200
    message.refresh_from_db()
    assert message.status == Status.READ


def test_undelivered_keeps_twilios_error_code_in_words(client, twilio_channel, sent_message):
    post_signed(client, twilio_channel, "status", status_params("undelivered", ErrorCode="30003"))
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.UNDELIVERED, "30003")
    assert sent_message.error_message == "Unreachable destination handset."


def test_undelivered_because_unsubscribed_opts_the_contact_out(client, twilio_channel, sent_message):
    post_signed(client, twilio_channel, "status", status_params("failed", ErrorCode="21610"))
    sent_message.refresh_from_db()
    assert sent_message.status == Status.FAILED
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_a_callback_racing_the_worker_finds_the_message_by_our_id(client, twilio_channel):
    """The worker may not have saved the SID yet: ?m= in the StatusCallback URL finds the message."""
    message = OutboundMessage.objects.create(channel=twilio_channel, to=ANN, status=Status.SENDING)
    response = post_signed(client, twilio_channel, "status", status_params("delivered"), query=f"m={message.pk}")
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (Status.DELIVERED, SID)


def test_a_bulk_callback_racing_the_worker_finds_the_one_message_in_flight_to_that_number(client, twilio_channel):
    message = OutboundMessage.objects.create(channel=twilio_channel, to=ANN, status=Status.SENDING)
    OutboundMessage.objects.create(channel=twilio_channel, to="+447911123999", status=Status.SENDING)
    post_signed(client, twilio_channel, "status", status_params("sent"))
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (Status.SENT, SID)


def test_a_callback_for_an_unknown_message_is_acknowledged_and_logged(client, twilio_channel, caplog):
    with caplog.at_level(logging.WARNING, logger="campaigns.receiving.receipts"):
        response = post_signed(client, twilio_channel, "status", status_params("delivered", sid="SM" + "0" * 32))
    assert response.status_code == 200
    assert "unknown message" in caplog.text


def test_a_callback_without_message_sid_changes_nothing(client, twilio_channel):
    """An empty SID must never match the messages whose SID is not saved yet."""
    waiting = OutboundMessage.objects.create(channel=twilio_channel, to="+447911123999", status=Status.SENDING)
    response = post_signed(client, twilio_channel, "status", status_params("delivered", sid=""))
    assert response.status_code == 200
    waiting.refresh_from_db()
    assert waiting.status == Status.SENDING


def test_an_unknown_status_is_acknowledged(client, twilio_channel, sent_message):
    assert post_signed(client, twilio_channel, "status", status_params("teleported")).status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Status.SENT


# --- inbound messages ----------------------------------------------------------------------------


def inbound_params(body: str, sender: str = ANN, **extra: str) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex  # each reply its own id: the same id twice is one message
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "From": sender, "To": SENDER, "Body": body}
    params.update(extra)
    return params


@pytest.mark.parametrize("word", ["STOP", "stop", " Unsubscribe ", "QUIT", "OPTOUT"])
def test_an_opt_out_word_opts_the_contact_out(client, twilio_channel, word):
    response = post_signed(client, twilio_channel, "inbound", inbound_params(word))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response></Response>")
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_start_opts_the_contact_back_in(client, twilio_channel, make_contact):
    contact = make_contact(ANN)
    Contact.opt_out_phone(ANN, "Replied STOP")
    post_signed(client, twilio_channel, "inbound", inbound_params("START"))
    contact.refresh_from_db()
    assert not contact.is_opted_out


def test_twilios_opt_out_type_wins_over_the_words(client, twilio_channel):
    post_signed(client, twilio_channel, "inbound", inbound_params("please no more", OptOutType="STOP"))
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_an_ordinary_reply_changes_nothing(client, twilio_channel, make_contact):
    contact = make_contact(ANN)
    assert post_signed(client, twilio_channel, "inbound", inbound_params("Thanks!")).status_code == 200
    contact.refresh_from_db()
    assert not contact.is_opted_out


def test_a_whatsapp_stop_opts_the_number_out(client, db):
    channel = Channel.objects.create(
        name="WA", provider="twlowa", sender=SENDER, credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    )
    post_signed(client, channel, "inbound", inbound_params("STOP", sender=f"whatsapp:{ANN}"))
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_an_unsigned_stop_is_refused(client, twilio_channel):
    response = post_signed(client, twilio_channel, "inbound", inbound_params("STOP"), signature="")
    assert response.status_code == 403
    assert not Contact.objects.filter(phone=ANN).exists()


def test_an_unreadable_sender_is_refused_naming_the_field(client, twilio_channel):
    response = post_signed(client, twilio_channel, "inbound", inbound_params("STOP", sender="not-a-number"))
    assert response.status_code == 400
    assert response.json()["field"] == "From"
    assert "'not-a-number'" in response.json()["error"]
    assert not Contact.objects.exists()


def test_a_scheduled_message_twilio_cancelled_is_failed_with_the_reason(client, twilio_channel, sent_message):
    post_signed(client, twilio_channel, "status", status_params("canceled"))
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.FAILED, "canceled")
    assert "cancelled" in sent_message.error_message

"""Gupshup's calls to /webhooks/gswa/<token>/events: message events v2 and v3, inbound replies."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage
from contacts.models import Contact
from providers.gupshup.fake import v3_status_event
from providers.models import Channel
from tests.conftest import run_worker

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db

GS_ID = "ee4a68a0-1203-4c85-8dc3-49d0b3226a35"


@pytest.fixture
def gupshup_channel() -> Channel:
    return Channel.objects.create(
        name="Gupshup", provider="gswa", sender="+15550001111", credentials={"apikey": "k", "app_name": "a"}
    )


@pytest.fixture
def sent_message(gupshup_channel) -> OutboundMessage:
    return OutboundMessage.objects.create(
        channel=gupshup_channel,
        to="+447911123456",
        body="Hi",
        status=Status.SENT,
        provider_message_id=GS_ID,
        sent_at=timezone.now(),
    )


def url(channel: Channel) -> str:
    return f"/webhooks/gswa/{channel.webhook_token}/events"


def v2_event(kind: str, gs_id: str = GS_ID, **details) -> dict:
    payload = {"id": "wamid.HBgM", "gsId": gs_id, "type": kind, "destination": "447911123456", "payload": details}
    if kind == "enqueued":
        payload = {"id": gs_id, "type": kind, "destination": "447911123456", "payload": {}}
    return {"app": "a", "timestamp": 1700000000000, "version": 2, "type": "message-event", "payload": payload}


def v3_event(kind: str, gs_id: str = GS_ID, details: dict | None = None) -> dict:
    return v3_status_event(
        "a", kind, gupshup_id=gs_id, whatsapp_id="wamid.X", destination="447911123456", details=details or {}
    )


def inbound(text: str, phone: str = "447911123999", message_id: str = "") -> dict:
    payload = {
        "id": message_id or f"ABEGkZlXEUjQAhBZ-{uuid.uuid4().hex[:8]}",
        "source": phone,
        "type": "text",
        "payload": {"text": text},
        "sender": {"phone": phone, "name": "Bob", "country_code": "44", "dial_code": "7911123999"},
    }
    return {"app": "a", "timestamp": 1700000000000, "version": 2, "type": "message", "payload": payload}


def post(client, channel: Channel, body) -> object:
    """POST as Gupshup would, then let the receiving worker apply what was taken."""
    response = client.post(url(channel), body, content_type="application/json")
    run_worker()
    return response


@pytest.mark.parametrize("event", [v2_event, v3_event])
def test_a_delivered_event_marks_the_message_delivered(client, gupshup_channel, sent_message, event):
    response = post(client, gupshup_channel, event("delivered"))
    sent_message.refresh_from_db()
    assert response.status_code == 200
    assert sent_message.status == Status.DELIVERED
    assert sent_message.delivered_at is not None


@pytest.mark.parametrize("event", [v2_event, v3_event])
def test_events_out_of_order_never_move_a_message_back(client, gupshup_channel, sent_message, event):
    for kind in ("read", "delivered", "sent", "enqueued"):
        assert post(client, gupshup_channel, event(kind)).status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == Status.READ


@pytest.mark.parametrize("event", [v2_event, v3_event])
def test_the_same_event_twice_changes_nothing_the_second_time(client, gupshup_channel, sent_message, event):
    first = post(client, gupshup_channel, event("delivered")).json()
    sent_message.refresh_from_db()
    delivered = (sent_message.status, sent_message.delivered_at, sent_message.updated_at)
    second = post(client, gupshup_channel, event("delivered")).json()
    sent_message.refresh_from_db()
    assert (first["taken"], second["taken"]) == (1, 1)  # both kept; the worker sorts out the replay
    assert (sent_message.status, sent_message.delivered_at, sent_message.updated_at) == delivered


def test_a_v2_failed_event_records_whatsapps_code_and_reason(client, gupshup_channel, sent_message):
    post(client, gupshup_channel, v2_event("failed", code=1002, reason="Number does not exist on WhatsApp"))
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code, sent_message.error_message) == (
        Status.FAILED,
        "1002",
        "Number does not exist on WhatsApp",
    )


def test_a_v3_failed_event_records_the_error(client, gupshup_channel, sent_message):
    post(client, gupshup_channel, v3_event("failed", details={"code": 131026, "reason": "Message undeliverable"}))
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == (Status.FAILED, "131026")


def test_the_enqueued_event_correlates_on_its_id(client, gupshup_channel):
    message = OutboundMessage.objects.create(
        channel=gupshup_channel, to="+447911123456", status=Status.UNKNOWN, provider_message_id=GS_ID
    )
    post(client, gupshup_channel, v2_event("enqueued"))
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_an_event_for_another_channels_message_changes_nothing(client, gupshup_channel, sent_message):
    other = Channel.objects.create(name="Other", provider="gswa", sender="+15550002222")
    response = post(client, other, v2_event("delivered"))
    sent_message.refresh_from_db()
    assert (response.status_code, sent_message.status) == (200, Status.SENT)


def test_an_event_for_an_unknown_message_is_acknowledged_and_logged(client, gupshup_channel, caplog):
    response = post(client, gupshup_channel, v2_event("delivered", gs_id="no-such-id"))
    assert response.status_code == 200
    assert "no-such-id" in caplog.text


def test_a_deleted_event_is_acknowledged_and_changes_nothing(client, gupshup_channel, sent_message):
    response = post(client, gupshup_channel, v2_event("deleted"))
    sent_message.refresh_from_db()
    assert (response.status_code, sent_message.status) == (200, Status.SENT)


def test_an_inbound_stop_opts_the_contact_out_and_start_opts_back_in(client, gupshup_channel):
    post(client, gupshup_channel, inbound(" stop "))
    contact = Contact.objects.get(phone="+447911123999")
    assert contact.is_opted_out
    assert "STOP" in contact.opt_out_reason
    post(client, gupshup_channel, inbound("START"))
    contact.refresh_from_db()
    assert not contact.is_opted_out


def test_an_opted_out_contact_is_refused_a_new_message(client, gupshup_channel):
    post(client, gupshup_channel, inbound("STOP"))
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="opted out"):
        OutboundMessage.send_one(channel=gupshup_channel, to="+447911123999", text="Hi again")


def test_a_v3_inbound_stop_opts_the_contact_out(client, gupshup_channel):
    message = {"from": "447911123888", "id": "wamid.in", "type": "text", "text": {"body": "UNSUBSCRIBE"}}
    body = {"entry": [{"changes": [{"value": {"messaging_product": "whatsapp", "messages": [message]}}]}]}
    post(client, gupshup_channel, body)
    assert Contact.objects.get(phone="+447911123888").is_opted_out


def test_an_ordinary_reply_changes_nobodys_opt_out(client, gupshup_channel):
    response = post(client, gupshup_channel, inbound("Thanks, see you then"))
    assert response.status_code == 200
    assert not Contact.objects.filter(opted_out_at__isnull=False).exists()


def test_an_inbound_message_from_an_unreadable_number_is_refused_naming_the_field(client, gupshup_channel):
    response = post(client, gupshup_channel, inbound("STOP", phone="12"))
    assert response.status_code == 400
    assert response.json()["field"] == "payload.sender.phone"
    assert "'12'" in response.json()["error"]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"text"',
        '{"type": "message-event", "payload": "oops"}',
        '{"entry": {"changes": []}}',
        '{"entry": [{"changes": [{"value": {"statuses": "x"}}]}]}',
        b"\xff\xfe",
    ],
)
def test_a_malformed_body_is_a_400_with_a_json_reason(client, gupshup_channel, body):
    response = client.post(url(gupshup_channel), body, content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.json()["error"]


def test_an_unknown_token_is_a_404(client, gupshup_channel):
    response = client.post("/webhooks/gswa/not-a-token/events", v2_event("sent"), content_type="application/json")
    assert response.status_code == 404


def test_a_sendbulk_channels_token_is_not_accepted_for_gupshup(client):
    sendbulk = Channel.objects.create(name="SB", provider="sendbulk", sender="ACME")
    response = post(client, sendbulk, v2_event("sent"))
    assert response.status_code == 404


def test_only_post_is_allowed(client, gupshup_channel):
    assert client.get(url(gupshup_channel)).status_code == 405


def test_an_empty_verification_request_is_acknowledged(client, gupshup_channel):
    assert client.post(url(gupshup_channel), "", content_type="application/json").status_code == 200


def test_the_webhook_needs_no_csrf_token(gupshup_channel, sent_message):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, gupshup_channel, v2_event("delivered"))
    assert response.status_code == 200


def test_the_channels_webhook_url_is_the_route(gupshup_channel, settings):
    settings.PUBLIC_BASE_URL = "https://msg.example.com"
    assert gupshup_channel.webhook_url("events") == f"https://msg.example.com{url(gupshup_channel)}"

"""Replies through the real webhook addresses, in the providers' own shapes (the ones the fakes and the
channel page's test reply post): stored whole and once, or refused with a 4xx naming the field."""

from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage
from contacts.models import Contact
from providers.models import Channel
from providers.sample_replies import gupshup_reply, twilio_reply
from providers.twilio.signature import compute_signature
from tests.conftest import run_worker
from tests.test_twilio_support import ACCOUNT_SID, AUTH_TOKEN, SENDER

pytestmark = pytest.mark.django_db
ANN = "+447911123456"
MEDIA = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"


def twilio_channel(provider: str = "twlo") -> Channel:
    credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    return Channel.objects.create(name=provider, provider=provider, sender=SENDER, credentials=credentials)


@pytest.fixture
def sms() -> Channel:
    return twilio_channel("twlo")


@pytest.fixture
def whatsapp() -> Channel:
    return twilio_channel("twlowa")


@pytest.fixture
def gupshup() -> Channel:
    return Channel.objects.create(
        name="Gupshup", provider="gswa", sender="+15550001111", credentials={"apikey": "k", "app_name": "a"}
    )


def twilio_form(channel: Channel, text: str = "What time does the sale start?", sender: str = ANN, **extra) -> dict:
    prefix = "whatsapp:" if channel.provider == "twlowa" else ""
    reply = twilio_reply(
        channel.webhook_url("inbound"), AUTH_TOKEN, sender=prefix + sender, to=prefix + SENDER, text=text
    )
    return {**reply.form, "AccountSid": ACCOUNT_SID, **extra}


# Each post is followed by the receiving worker, which stores what the webhook took.


def post_twilio(client, channel: Channel, form: dict):
    url = channel.webhook_url("inbound")
    signature = compute_signature(AUTH_TOKEN, url, form)
    response = client.post(urlsplit(url).path, form, HTTP_X_TWILIO_SIGNATURE=signature)
    run_worker()
    return response


def post_raw_twilio(client, channel: Channel, body: bytes, signed: dict, content_type: str):
    """A form body as bytes (an odd encoding), signed over the fields as Django reads them."""
    url = channel.webhook_url("inbound")
    signature = compute_signature(AUTH_TOKEN, url, signed)
    response = client.post(urlsplit(url).path, body, content_type=content_type, HTTP_X_TWILIO_SIGNATURE=signature)
    run_worker()
    return response


def post_gupshup(client, channel: Channel, body):
    response = client.post(urlsplit(channel.webhook_url("events")).path, body, content_type="application/json")
    run_worker()
    return response


def gupshup_body(kind: str = "text", inner: dict | None = None, message_id: str = "gs-1", **payload) -> dict:
    body = gupshup_reply("", app="a", sender=ANN.removeprefix("+"), text="Hello", name="Ann W").json
    body["payload"].update(id=message_id, type=kind, payload=inner or {"text": "Hello"}, **payload)
    return body


def v3_body(*messages: dict, contacts: list | None = None) -> dict:
    value = {"messaging_product": "whatsapp", "contacts": contacts or [], "messages": list(messages)}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"value": value}]}]}


# --- Twilio ---------------------------------------------------------------------------------------


def test_a_twilio_sms_reply_is_stored_and_answered_with_empty_twiml(client, sms):
    form = twilio_form(sms)
    response = post_twilio(client, sms, form)
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response></Response>")
    message = InboundMessage.objects.get()
    assert (message.text, message.phone, message.provider_message_id) == (form["Body"], ANN, form["MessageSid"])
    assert message.contact == Contact.objects.get(phone=ANN)
    assert Conversation.objects.get().unread_count == 1


def test_twilios_media_are_stored_with_their_types(client, sms):
    media = {"NumMedia": "2", "MediaUrl0": MEDIA, "MediaContentType0": "image/jpeg"}
    media.update(MediaUrl1=MEDIA + "2", MediaContentType1="application/pdf")
    post_twilio(client, sms, twilio_form(sms, "", **media))
    assert InboundMessage.objects.get().media == [
        {"url": MEDIA, "type": "image/jpeg"},
        {"url": MEDIA + "2", "type": "application/pdf"},
    ]


def test_a_twilio_whatsapp_reply_keeps_the_number_and_profile_name(client, whatsapp):
    post_twilio(client, whatsapp, twilio_form(whatsapp, "Hi", ProfileName="Ann W"))
    message = InboundMessage.objects.get()
    assert (message.phone, message.profile_name, message.channel) == (ANN, "Ann W", whatsapp)
    assert Contact.objects.get(phone=ANN).name == "Ann W"  # a new contact takes the profile name


def test_a_business_scoped_whatsapp_sender_is_read_from_waid(client, whatsapp):
    form = twilio_form(whatsapp, "Hi", From="whatsapp:US.13491208655302741918", WaId=ANN.removeprefix("+"))
    assert post_twilio(client, whatsapp, form).status_code == 200
    assert InboundMessage.objects.get().phone == ANN


def test_twilios_retry_is_stored_once(client, sms):
    form = twilio_form(sms)
    assert [post_twilio(client, sms, form).status_code for _ in range(3)] == [200, 200, 200]
    assert InboundMessage.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_a_reply_is_linked_to_the_campaign_message_it_answers(client, sms):
    campaign = Campaign.objects.create(name="Sale", channel=sms)
    outbound = OutboundMessage.objects.create(
        channel=sms, to=ANN, status="delivered", sent_at=timezone.now(), campaign=campaign
    )
    post_twilio(client, sms, twilio_form(sms))
    message = InboundMessage.objects.get()
    assert (message.in_reply_to, message.campaign) == (outbound, campaign)


def test_a_whatsapp_reply_quoting_a_message_is_linked_to_it(client, whatsapp, gupshup):
    twilio_sent = OutboundMessage.objects.create(channel=whatsapp, to=ANN, status="read", provider_message_id="SMq")
    gupshup_sent = OutboundMessage.objects.create(channel=gupshup, to=ANN, status="read", provider_message_id="gs-q")
    post_twilio(client, whatsapp, twilio_form(whatsapp, "This one", OriginalRepliedMessageSid="SMq"))
    post_gupshup(client, gupshup, gupshup_body(context={"id": "wamid.Q", "gsId": "gs-q"}))
    assert {m.channel_id: m.in_reply_to for m in InboundMessage.objects.all()} == {
        whatsapp.pk: twilio_sent,
        gupshup.pk: gupshup_sent,
    }


def test_a_stop_reply_is_recorded_as_the_keyword_and_opts_the_number_out(client, sms):
    post_twilio(client, sms, twilio_form(sms, "Stop."))
    assert InboundMessage.objects.get().keyword == "STOP"
    assert Contact.objects.get(phone=ANN).is_opted_out


# --- Gupshup ----------------------------------------------------------------------------------------


def test_a_gupshup_v2_text_reply_is_stored_with_its_id_time_and_sender_name(client, gupshup):
    body = gupshup_body(inner={"text": "When?"})
    body["timestamp"] = 1_765_000_000_123
    assert post_gupshup(client, gupshup, body).status_code == 200
    message = InboundMessage.objects.get()
    assert (message.text, message.provider_message_id, message.profile_name) == ("When?", "gs-1", "Ann W")
    assert message.received_at.timestamp() == 1_765_000_000.123


@pytest.mark.parametrize(
    ("kind", "inner", "text", "media"),
    [
        ("image", {"caption": "Me", "url": "https://filemanager.gupshup.io/a.jpg", "contentType": "image/jpeg"}, "Me",
         [{"url": "https://filemanager.gupshup.io/a.jpg", "type": "image/jpeg"}]),
        ("file", {"caption": "", "url": "https://x.gupshup.io/f", "contentType": "application/pdf", "name": "f.pdf"},
         "f.pdf", [{"url": "https://x.gupshup.io/f", "type": "application/pdf"}]),
        ("audio", {"url": "https://x.gupshup.io/v.ogg", "contentType": "audio/ogg"}, "",
         [{"url": "https://x.gupshup.io/v.ogg", "type": "audio/ogg"}]),
        ("video", {"caption": "Look", "url": "https://x.gupshup.io/v.mp4", "contentType": "video/mp4"}, "Look",
         [{"url": "https://x.gupshup.io/v.mp4", "type": "video/mp4"}]),
        ("location", {"latitude": "51.5", "longitude": "-0.12", "name": "Shop"}, "Location: 51.5, -0.12 (Shop)", []),
        ("button_reply", {"title": "Yes please", "id": "b1", "reply": "Yes please 1"}, "Yes please", []),
        ("quick_reply", {"text": "STOP", "type": "button"}, "STOP", []),
    ],
)  # fmt: skip
def test_each_gupshup_v2_message_type_is_stored(client, gupshup, kind, inner, text, media):
    assert post_gupshup(client, gupshup, gupshup_body(kind, inner)).status_code == 200
    message = InboundMessage.objects.get()
    assert (message.text, message.media) == (text, media)


def test_a_gupshup_v3_reply_takes_its_name_from_contacts(client, gupshup):
    message = {"from": "447911123456", "id": "wamid.A", "timestamp": "1765000000", "type": "text"}
    contacts = [{"wa_id": "447911123456", "profile": {"name": "Ann W"}}]
    image = {"from": "447911123456", "id": "wamid.B", "timestamp": "1765000001", "type": "image"}
    image["image"] = {"caption": "Here", "mime_type": "image/png", "url": "https://x.gupshup.io/i.png"}
    response = post_gupshup(client, gupshup, v3_body({**message, "text": {"body": "Hi"}}, image, contacts=contacts))
    assert response.status_code == 200
    rows = list(InboundMessage.objects.order_by("received_at").values_list("text", "profile_name", "media"))
    png = {"url": "https://x.gupshup.io/i.png", "type": "image/png"}
    assert rows == [("Hi", "Ann W", []), ("Here", "Ann W", [png])]


def test_gupshups_retry_is_stored_once(client, gupshup):
    body = gupshup_body()
    for _ in range(3):
        assert post_gupshup(client, gupshup, body).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_a_reaction_is_kept_with_its_type_in_words(client, gupshup):
    message = {"from": "447911123456", "id": "wamid.R", "type": "reaction", "reaction": {"emoji": "x"}}
    post_gupshup(client, gupshup, v3_body(message))
    assert InboundMessage.objects.get().text == "(reaction message)"


# --- hostile bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "status"),
    [
        ({"Body": "x" * 4097}, "Body", 413),
        ({"NumMedia": "1", "MediaUrl0": "https://e.com/" + "a" * 2000}, "MediaUrl0", 400),
        ({"NumMedia": "1", "MediaUrl0": "javascript:alert(1)"}, "MediaUrl0", 400),
        ({"NumMedia": "2", "MediaUrl0": MEDIA}, "MediaUrl1", 400),
        ({"NumMedia": "11"}, "NumMedia", 400),
        ({"NumMedia": "1e3"}, "NumMedia", 400),
        ({"NumMedia": "1", "MediaUrl0": MEDIA, "MediaContentType0": "a" * 101}, "MediaContentType0", 400),
        ({"OptOutType": "DELETE"}, "OptOutType", 400),
        ({"MessageSid": ""}, "MessageSid", 400),
        ({"MessageSid": "SM" + "1" * 200}, "MessageSid", 400),
        ({"From": "+1"}, "From", 400),
        ({"Body": "a\x00b"}, "Body", 400),
    ],
)
def test_a_hostile_twilio_reply_is_refused_naming_the_field(client, sms, extra, field, status):
    response = post_twilio(client, sms, twilio_form(sms, **extra))
    assert (response.status_code, response.json()["field"]) == (status, field)
    assert not InboundMessage.objects.exists()


def test_a_huge_profile_name_is_cut_not_refused(client, whatsapp):
    post_twilio(client, whatsapp, twilio_form(whatsapp, "hi", ProfileName="N" * 5000))
    assert InboundMessage.objects.get().profile_name == "N" * 200


def test_a_form_in_another_charset_is_refused(client, sms):
    form = twilio_form(sms, "café")
    body = urlencode(form, encoding="latin-1").encode()
    response = post_raw_twilio(client, sms, body, form, "application/x-www-form-urlencoded; charset=iso-8859-1")
    assert (response.status_code, response.json()["field"]) == (415, "Content-Type")
    assert not InboundMessage.objects.exists()


def test_bytes_that_are_not_utf8_are_refused_naming_the_field(client, sms):
    form = twilio_form(sms, "caf\ufffd")  # what Django would have made of them
    body = urlencode({**form, "Body": "x"}).encode().replace(b"Body=x", b"Body=caf%E9")
    response = post_raw_twilio(client, sms, body, form, "application/x-www-form-urlencoded")
    assert (response.status_code, response.json()["field"]) == (400, "Body")
    assert "not UTF-8" in response.json()["error"]
    assert not InboundMessage.objects.exists()


def test_utf8_in_any_script_is_stored_as_sent(client, sms):
    text = "СТОП 停止 توقف 🛑"
    assert post_twilio(client, sms, twilio_form(sms, text)).status_code == 200
    message = InboundMessage.objects.get()
    assert (message.text, message.keyword) == (text, "")  # not Twilio's STOP: stored, not acted on


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload": {"text": "x" * 4097}}, "payload.payload.text"),
        ({"payload": {"text": ["a"]}}, "payload.payload.text"),
        ({"id": ""}, "payload.id"),
        ({"id": {"a": 1}}, "payload.id"),
        ({"sender": {"phone": "12"}, "source": "12"}, "payload.sender.phone"),
        ({"sender": "Ann"}, "payload.sender"),
        ({"type": "image", "payload": {"url": "ftp://x/a.jpg"}}, "payload.payload.url"),
        ({"type": "image", "payload": {"url": "https://x/" + "a" * 2000}}, "payload.payload.url"),
    ],
)
def test_a_hostile_gupshup_reply_is_refused_naming_the_field(client, gupshup, change, field):
    body = gupshup_body()
    body["payload"].update(change)
    response = post_gupshup(client, gupshup, body)
    assert (response.status_code // 100, response.json()["field"]) == (4, field)
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize("timestamp", ["soon", "1e400", "nan", True, [1]])
def test_a_gupshup_time_that_is_no_time_is_refused(client, gupshup, timestamp):
    body = gupshup_body()
    body["timestamp"] = timestamp
    response = post_gupshup(client, gupshup, body)
    assert (response.status_code, response.json()["field"]) == (400, "timestamp")


@pytest.mark.parametrize("timestamp", [1, 946684800000, (time.time() + 3 * 86400) * 1000])
def test_a_gupshup_time_no_phone_sent_at_is_taken_as_now(client, gupshup, timestamp):
    body = gupshup_body()
    body["timestamp"] = timestamp
    before = timezone.now()
    assert post_gupshup(client, gupshup, body).status_code == 200
    assert before <= InboundMessage.objects.get().received_at <= timezone.now()


def test_one_bad_message_in_a_v3_callback_refuses_the_callback_so_gupshup_retries_it_whole(client, gupshup):
    good = {"from": "447911123456", "id": "wamid.A", "type": "text", "text": {"body": "Hi"}}
    bad = {"from": "447911123456", "id": "wamid.B", "type": "text", "text": {"body": "x" * 5000}}
    response = post_gupshup(client, gupshup, v3_body(good, bad))
    assert (response.status_code, response.json()["field"]) == (413, "messages[1].text.text")
    assert not InboundMessage.objects.exists()

"""POST /message and GET /message/<id>, with the Sociocs documentation's own example bodies."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from campaigns.models import ApiKey, OutboundMessage
from contacts.models import Contact
from providers.models import Channel

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
CONTENT_SID = "HXb5b62575e6e4ff6129ad7c8efe1f983e"


@pytest.fixture
def api_user(db):
    return get_user_model().objects.create_user("shop", password="x", is_staff=True, first_name="Shop")


@pytest.fixture
def api_key(api_user) -> str:
    return ApiKey.issue(api_user, name="shop")[1]


@pytest.fixture
def key_row(api_key) -> ApiKey:
    """The fixture key's row, to widen its scope in a test."""
    return ApiKey.objects.get(name="shop")


@pytest.fixture
def call(api_key):
    """Call the API like a client would: JSON body, apikey header; returns (status, parsed JSON)."""
    client = Client()

    def call(method: str, path: str, body: object = None, key: str | None = api_key, **extra):
        headers = {"apikey": key} if key else {}
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        kwargs = {"content_type": "application/json"} if body is not None else {}
        kwargs.update(extra)
        response = getattr(client, method.lower())(
            path, data=data if body is not None else None, headers=headers, **kwargs
        )
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        return response.status_code, json.loads(response.content), response

    return call


def whatsapp_channel(provider: str) -> Channel:
    return Channel.objects.create(name=f"WhatsApp {provider}", provider=provider, sender="+15005550006")


def body(channel: Channel, **fields) -> dict:
    return {"provider": channel.provider, "channel_key": channel.channel_key, "to": "+14155550123", **fields}


def sent(status: int, answer: dict) -> OutboundMessage:
    assert status == 200, answer
    assert answer["status"] == "success"
    return OutboundMessage.objects.get(pk=int(answer["data"]["message_id"]))


def errors(answer: dict) -> list[str]:
    assert answer["status"] == "error"
    return [e["msg"] for e in answer["errors"]]


# --- The seed documents' examples -------------------------------------------------------------


def test_text_only_to_a_number_without_plus(call, channel):
    message = sent(*call("POST", "/message", body(channel, to="14155550123", text="Hello!"))[:2])
    assert message.to == "+14155550123"
    assert message.body == "Hello!"
    assert message.status == Status.QUEUED
    assert message.sender_label == "API"


def test_text_and_image(call, channel):
    answer = call("POST", "/message", body(channel, text="Receipt", image_url="https://example.com/r.png"))
    message = sent(*answer[:2])
    assert (message.body, message.media_urls) == ("Receipt", ["https://example.com/r.png"])


def test_images_only(call, channel):
    urls = ["https://example.com/1.jpg", "https://example.com/2.jpg"]
    message = sent(*call("POST", "/message", body(channel, image_urls=urls))[:2])
    assert message.media_urls == urls
    assert message.body == ""


@pytest.mark.parametrize(
    ("provider", "template"),
    [
        ("twlowa", {"id": CONTENT_SID, "variables": {"1": "John"}}),
        (
            "gswa",
            {
                "id": "6f2b9c3e-3f0a-4b8e-9d1c-2a7e5b4c8d90",
                "variables": {
                    "MEDIA_URL": "https://example.com/banner.jpg",
                    "Header": {"1": "Sale"},
                    "Body": {"1": "John", "2": "20%"},
                    "Buttons": {"1": "summer"},
                },
            },
        ),
    ],
)
def test_a_whatsapp_template_in_each_providers_shape(call, provider, template):
    channel = whatsapp_channel(provider)
    message = sent(*call("POST", "/message", body(channel, template=template))[:2])
    assert message.template == template


@pytest.mark.parametrize(
    ("provider", "template", "expected"),
    [
        ("twlowa", {"id": "HX123", "variables": {"1": "John"}}, 'template.id: "HX123" is not a Twilio Content SID'),
        ("twlowa", {"id": CONTENT_SID, "variables": ["John"]}, 'template.variables: ["John"] is an array'),
        ("gswa", {"id": "abc", "variables": {"Footer": {"1": "x"}}}, "template.variables.Footer: unknown field"),
        (
            "gswa",
            {"id": "abc", "variables": {"Body": {"one": "x"}}},
            'template.variables.Body: "one" is not a position',
        ),
        ("gswa", {"id": "abc", "variables": {"MEDIA_URL": "ftp://x"}}, 'template.variables.MEDIA_URL: "ftp://x"'),
        ("sandbox", "HX1", 'template: "HX1" is a string; expected an object'),
    ],
)
def test_a_template_in_the_wrong_shape_is_refused_naming_the_field(call, channel, provider, template, expected):
    target = channel if provider == "sandbox" else whatsapp_channel(provider)
    status, answer, _ = call("POST", "/message", body(target, template=template))
    assert status == 400
    assert any(m.startswith(expected) for m in errors(answer)), errors(answer)
    assert not OutboundMessage.objects.exists()


def test_contact_saving_into_a_list_merges_extra_fields(call, key_row, channel, make_contact, make_list):
    existing = make_contact(phone="+14155550123", name="", city="Leeds", tier="gold")
    customers = make_list("Customers", [])
    key_row.contact_saving = ApiKey.ContactSaving.UPDATE
    key_row.save()
    key_row.contact_lists.add(customers)
    saving = {"save": True, "list_id": customers.pk, "extra_fields": {"tier": "silver", "shoe": 42}}
    message = sent(*call("POST", "/message", body(channel, name="John", text="Hi {{name}}", contact_saving=saving))[:2])

    existing.refresh_from_db()
    assert existing.name == "John"
    assert existing.extra_fields == {"city": "Leeds", "tier": "silver", "shoe": 42}
    assert list(customers.contacts.all()) == [existing]
    assert message.contact == existing


def test_contact_saving_creates_a_new_contact_without_a_list(call, key_row, channel):
    ApiKey.objects.filter(pk=key_row.pk).update(contact_saving=ApiKey.ContactSaving.NEW_ONLY)
    saving = {"save": True, "list_id": 0}
    sent(*call("POST", "/message", body(channel, name="Ann", text="Hi", contact_saving=saving))[:2])
    contact = Contact.objects.get(phone="+14155550123")
    assert contact.name == "Ann"
    assert not contact.lists.exists()


def test_an_unknown_list_is_refused_with_404_and_nothing_saved(call, key_row, channel):
    ApiKey.objects.filter(pk=key_row.pk).update(contact_saving=ApiKey.ContactSaving.NEW_ONLY)
    saving = {"save": True, "list_id": 999}
    status, answer, _ = call("POST", "/message", body(channel, text="Hi", contact_saving=saving))
    assert status == 404
    assert errors(answer) == ["contact_saving.list_id: 999 is not a contact list."]
    assert not Contact.objects.exists()


def test_a_schedule_in_the_future_makes_a_scheduled_message(call, channel):
    when = (timezone.now() + timedelta(days=1)).astimezone(timezone.get_fixed_timezone(-240)).replace(microsecond=0)
    message = sent(*call("POST", "/message", body(channel, text="Later", schedule=when.isoformat()))[:2])
    assert message.status == Status.SCHEDULED
    assert message.send_at == when
    assert message.is_editable


def test_a_schedule_in_the_past_sends_now(call, channel):
    message = sent(*call("POST", "/message", body(channel, text="Now", schedule="2006-01-02T15:04:05-04:00"))[:2])
    assert message.status == Status.QUEUED
    assert message.send_at is None


def test_user_id_names_the_sender(call, api_user, channel):
    api_user.is_superuser = True  # only an administrator's key may name another team member
    api_user.save()
    member = get_user_model().objects.create_user("ann", first_name="Ann", last_name="Lee", is_staff=True)
    message = sent(*call("POST", "/message", body(channel, text="Hi", user_id=member.pk))[:2])
    assert (message.sender_label, message.created_by) == ("Ann Lee", member)


# --- Refusals ---------------------------------------------------------------------------------


def test_every_problem_is_listed_at_once_naming_field_and_value(call, channel):
    status, answer, _ = call(
        "POST",
        "/message",
        {"provider": "twlowa", "channel_key": channel.channel_key, "to": "12", "colour": "red", "user_id": 10**30},
    )
    assert status == 400
    assert errors(answer) == [
        "colour: unknown field (known fields: channel_key, contact_saving, file_url, image_url, image_urls, "
        "name, provider, schedule, status_callback, template, text, to, user_id, video_url).",
        f"channel_key: {json.dumps(channel.channel_key)} is not a known twlowa channel.",
        'to: "12" is not a phone number in E.164 (country code first, digits only, + optional), e.g. +14155550123.',
        "user_id: 1000000000000000000000000000000 is out of range.",
        "text: a message needs text, image_url / image_urls / video_url / file_url, or a template.",
    ]


def test_an_unknown_channel_key_is_404(call):
    status, answer, _ = call(
        "POST", "/message", {"provider": "twlo", "channel_key": "nope", "to": "+14155550123", "text": "x"}
    )
    assert status == 404
    assert errors(answer) == ['channel_key: "nope" is not a known twlo channel.']


def test_the_key_of_another_providers_channel_is_404(call, channel):
    status, answer, _ = call("POST", "/message", body(channel, provider="twlo", text="x"))
    assert status == 404  # a sandbox channel's key is not a twlo channel's
    assert errors(answer) == [f"channel_key: {json.dumps(channel.channel_key)} is not a known twlo channel."]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"text": 5}, "text: 5 is a number; expected a string."),
        ({"text": "x" * 5000}, "text: 5,000 characters is too long (at most 4,096)."),
        ({"text": "x", "image_urls": "https://e.com/a.png"}, 'image_urls: "https://e.com/a.png" is a string'),
        ({"text": "x", "image_url": "javascript:alert(1)"}, 'image_url: "javascript:alert(1)" is not an http(s) URL'),
        ({"text": "x", "schedule": "tomorrow"}, 'schedule: "tomorrow" is not an ISO 8601 time'),
        ({"text": "x", "schedule": "2030-01-02T15:04:05"}, 'schedule: "2030-01-02T15:04:05" has no UTC offset'),
        ({"text": "x", "user_id": True}, "user_id: true is a boolean; expected a whole number."),
        ({"text": "x", "user_id": 424242}, "user_id: 424242 is not allowed; this key may name only its owner"),
        ({"text": "x", "contact_saving": {"save": "yes"}}, 'contact_saving.save: "yes" is a string; expected true'),
        ({"text": "x", "to": None}, "to: required"),
    ],
)
def test_wrong_types_and_values_are_named(call, channel, fields, expected):
    status, answer, _ = call("POST", "/message", body(channel, **fields))
    assert status in (400, 403, 404)
    assert any(m.startswith(expected) for m in errors(answer)), errors(answer)


def test_nulls_count_as_absent(call, channel):
    nulls = dict.fromkeys(["name", "image_url", "image_urls", "template", "contact_saving", "schedule", "user_id"])
    message = sent(*call("POST", "/message", body(channel, text="Hi", **nulls))[:2])
    assert message.status == Status.QUEUED


def test_an_opted_out_number_is_refused_and_the_contact_left_alone(call, key_row, channel, make_contact):
    ApiKey.objects.filter(pk=key_row.pk).update(contact_saving=ApiKey.ContactSaving.UPDATE)
    contact = make_contact(phone="+14155550123", name="Ann")
    Contact.opt_out_phone(contact.phone, "STOP")
    saving = {"save": True, "extra_fields": {"city": "York"}}
    status, answer, _ = call("POST", "/message", body(channel, name="Bob", text="Hi", contact_saving=saving))
    assert status == 409  # the state of the contact, not the shape of the request
    (error,) = errors(answer)
    assert error.startswith("to: +14155550123 has opted out (") and "STOP) and is on the suppression list" in error
    contact.refresh_from_db()
    assert (contact.name, contact.extra_fields) == ("Ann", {})


def test_an_opted_out_number_is_told_only_that_whatever_else_the_provider_would_refuse(call, make_contact):
    twilio = Channel.objects.create(name="SMS", provider="twlo", sender="+15005550006")
    Contact.opt_out_phone(make_contact(phone="+14155550123").phone, "STOP")
    status, answer, _ = call("POST", "/message", body(twilio, text="x" * 1601))
    assert status == 409
    (error,) = errors(answer)
    assert error.startswith("to: +14155550123 has opted out (")
    assert not OutboundMessage.objects.exists()


def test_a_message_goes_with_its_numbers_contact_without_saving_one(call, channel, make_contact):
    ann = make_contact(phone="+14155550123", name="Ann")
    assert sent(*call("POST", "/message", body(channel, text="Hi"))[:2]).contact == ann
    assert sent(*call("POST", "/message", body(channel, to="+14155550124", text="Hi"))[:2]).contact is None


def test_a_number_opted_out_after_the_checks_is_still_refused_by_the_insert(call, channel, monkeypatch):
    """The suppression list is asked by the INSERT itself: a STOP that lands between the request's
    checks and its INSERT still stops it, with the 409 naming the number."""
    from campaigns.api import messages

    checked = messages.window_field

    def stop_arrives(message, problems):
        checked(message, problems)
        Contact.opt_out_phone("+14155550123", "STOP")

    monkeypatch.setattr(messages, "window_field", stop_arrives)
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 409
    assert errors(answer)[0].startswith("to: +14155550123 has opted out (")
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "expected"),
    [
        ("{not json", "application/json", 400, "The body is not valid JSON"),
        ("[1, 2]", "application/json", 400, "The body must be a JSON object, not an array."),
        ('{"text": NaN}', "application/json", 400, "The body is not valid JSON: NaN is not a JSON number"),
        ("[" * 100_000, "application/json", 400, "The body is nested too deeply; at most 32 levels"),
        ("to=1", "application/x-www-form-urlencoded", 415, 'Content-Type: "application/x-www-form-urlencoded"'),
        ('{"text": "' + "x" * (1024 * 1024) + '"}', "application/json", 413, "The body is"),
    ],
)
def test_bodies_that_are_not_a_json_object_get_a_json_error(call, raw, content_type, status, expected):
    got, answer, _ = call("POST", "/message", raw, content_type=content_type)
    assert got == status
    assert errors(answer)[0].startswith(expected), errors(answer)


def test_a_wrong_method_is_405_json(call):
    status, answer, response = call("GET", "/message")
    assert status == 405
    assert response["Allow"] == "POST"
    assert errors(answer) == ["Method GET is not allowed here; use POST."]


@pytest.mark.parametrize(("key", "expected"), [(None, "the header is missing"), ("mk_wrong", "not known")])
def test_a_missing_or_unknown_key_is_401(call, channel, key, expected):
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"), key=key)
    assert status == 401
    assert expected in errors(answer)[0]
    assert not OutboundMessage.objects.exists()


def test_a_revoked_key_is_401(call, channel, api_key):
    ApiKey.objects.update(revoked_at=timezone.now())
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 401
    assert "was revoked" in errors(answer)[0]
    assert api_key not in json.dumps(answer)


def test_an_unexpected_error_is_a_json_500_without_traceback(call, channel, monkeypatch):
    def broken(self):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(OutboundMessage, "insert_unless_suppressed", broken)  # the API's INSERT
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 500
    assert "Something went wrong on our side" in errors(answer)[0]
    assert "secret internals" not in json.dumps(answer)


def test_the_rate_limit_answers_429_with_retry_after(call, channel, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    assert call("POST", "/message", body(channel, text="1"))[0] == 200
    assert call("POST", "/message", body(channel, text="2"))[0] == 200
    status, answer, response = call("POST", "/message", body(channel, text="3"))
    assert status == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "2 requests a minute" in errors(answer)[0]
    assert OutboundMessage.objects.count() == 2


def test_last_used_is_written_at_most_once_a_minute(call, channel):
    call("POST", "/message", body(channel, text="1"))
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    call("POST", "/message", body(channel, text="2"))
    assert ApiKey.objects.get().last_used_at == first


# --- GET /message/<id> ------------------------------------------------------------------------


def test_a_message_state_shows_provider_id_and_error(call, channel):
    message = sent(*call("POST", "/message", body(channel, text="Hi"))[:2])
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.FAILED, provider_message_id="SM1", error_code="21211", error_message="Invalid To"
    )
    status, answer, _ = call("GET", f"/message/{message.pk}")
    assert status == 200
    data = answer["data"]
    assert (data["message_id"], data["state"], data["provider_message_id"]) == (str(message.pk), "failed", "SM1")
    assert (data["error_code"], data["error_message"], data["to"]) == ("21211", "Invalid To", "+14155550123")


def test_a_key_limited_to_channels_sees_only_their_messages(call, channel, send_one):
    other = send_one(to="+14155550124", channel=Channel.objects.create(name="Other", provider="sandbox"))
    clerk = get_user_model().objects.create_user("clerk", is_staff=True)
    clerk_row, clerk_key = ApiKey.issue(clerk, every_channel=False)
    clerk_row.channels.add(channel)
    mine = sent(*call("POST", "/message", body(channel, text="Hi"), key=clerk_key)[:2])

    assert call("GET", f"/message/{mine.pk}", key=clerk_key)[0] == 200
    status, answer, _ = call("GET", f"/message/{other.pk}", key=clerk_key)
    assert status == 404
    assert errors(answer) == [f"message_id: '{other.pk}' is not a message this key can see."]
    assert call("GET", f"/message/{other.pk}")[0] == 200  # a key on every channel sees all
    assert call("GET", "/message/abc")[0] == 404


@pytest.mark.parametrize("path", ["/message/²", "/messages/bulk/١٢", "/message/1/extra", "/messages/nothing-here"])
def test_odd_paths_are_json_404s(call, path):
    status, answer, _ = call("GET", path)
    assert status == 404
    assert errors(answer)


def test_a_user_id_in_odd_digits_is_refused_not_a_crash(call, channel):
    status, answer, _ = call("POST", "/message", body(channel, text="Hi", user_id="²"))
    assert status == 400
    assert errors(answer) == ['user_id: "²" is a string; expected a whole number.']


def test_a_schedule_at_the_end_of_time_is_accepted_and_waits(call, channel):
    message = sent(*call("POST", "/message", body(channel, text="x", schedule="9999-12-31T23:59:59-04:00"))[:2])
    assert message.status == Status.SCHEDULED
    assert message.send_at.year == 9999


def test_a_number_in_e164_shape_that_does_not_exist_is_404_and_nothing_saved(call, channel):
    status, answer, _ = call("POST", "/message", body(channel, to="+12000000000", text="Hi"))
    assert status == 404  # well formed, but no such number in the North American numbering plan
    assert errors(answer) == ['to: "+12000000000" is not a valid phone number in its country.']
    assert not OutboundMessage.objects.exists()

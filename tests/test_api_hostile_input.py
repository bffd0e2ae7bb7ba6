# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""Hostile and odd input to the API: every answer is the JSON envelope naming the field, never a 500,
never HTML, never a redirect; nothing is saved. Runs on SQLite and PostgreSQL alike (PostgreSQL
refuses NUL in text, so a NUL that slipped through would be a 500 there)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from campaigns.models import Campaign, OutboundMessage
from contacts.models import Contact
from tests.test_api_message import api_key, api_user, body, call, errors  # noqa: F401

pytestmark = pytest.mark.django_db

# As JSON escapes, which is how a client sends them (both are valid JSON).
NUL = "\\u0000"
SURROGATE = "\\ud800"


def raw_call(api_key: str, method: str, path: str, raw: bytes, content_type: str = "application/json"):
    response = Client().generic(method, path, raw, content_type=content_type, headers={"apikey": api_key})
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.status_code, json.loads(response.content)


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"text": "Hi {bad}"}, "text"),
        ({"text": "Hi", "name": "Ann{bad}"}, "name"),
        ({"text": "Hi", "to": "+1415555012{bad}"}, "to"),
        ({"text": "Hi", "channel_key": "key{bad}"}, "channel_key"),
        ({"image_url": "https://example.com/a{bad}.png"}, "image_url"),
        ({"image_urls": ["https://example.com/a.png", "https://example.com/{bad}"]}, "image_urls[1]"),
        ({"template": {"id": "tpl", "variables": {"1": "x{bad}"}}}, "template.variables.1"),
        (
            {"text": "Hi", "contact_saving": {"save": True, "extra_fields": {"city": "{bad}"}}},
            "contact_saving.extra_fields.city",
        ),
        ({"text": "Hi", "schedule": "2030-01-01T00:00:00{bad}"}, "schedule"),
    ],
)
def test_nul_or_surrogate_in_any_string_is_a_400_naming_the_field(api_key, channel, bad, fields, named):
    raw = json.dumps(body(channel, **fields)).replace("{bad}", bad).encode()
    status, answer = raw_call(api_key, "POST", "/message", raw)
    assert status == 400, answer
    assert any(message.startswith(f"{named}: ") for message in errors(answer)), errors(answer)
    assert not OutboundMessage.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
def test_nul_or_surrogate_in_a_bulk_recipient_or_a_field_name(api_key, channel, bad):
    data = {
        "provider": "sandbox",
        "channel_key": channel.channel_key,
        "text": "Hi",
        "recipients": [{"to": "+14155550123"}, {"to": "+14155550124", "name": "B{bad}b"}, {"to": "+1", "k{bad}": 1}],
    }
    raw = json.dumps(data).replace("{bad}", bad).encode()
    status, answer = raw_call(api_key, "POST", "/messages/bulk", raw)
    assert status == 400
    found = errors(answer)
    assert any(m.startswith("recipients[1].name: ") for m in found), found
    assert any(m.startswith('"recipients[2].k') and "a field name" in m for m in found), found
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "expected"),
    [
        (b'{"text": "caf\xe9"}', "application/json", 400, "The body is not UTF-8: byte 13 (0xe9) is invalid."),
        (b'{"text": "\xed\xa0\x80"}', "application/json", 400, "The body is not UTF-8"),  # an encoded surrogate
        ('{"text": "Hi"}'.encode("utf-16"), "application/json", 400, "The body is not UTF-8"),
        (b'{"text": "Hi"}', "application/json; charset=latin-1", 415, 'Content-Type: charset "latin-1"'),
        (
            b'{"a": ' * 40 + b"1" + b"}" * 40,
            "application/json",
            400,
            "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested more than 32 levels",
        ),
        (b'{"a": "' + b"[" * 1000 + b'"}', "application/json", 400, "a: unknown field"),  # brackets in a string
        (b"\xef\xbb\xbf{}", "application/json", 400, "provider: required"),  # a BOM is tolerated
    ],
)
def test_odd_encodings_and_deep_nesting_are_json_errors(api_key, channel, raw, content_type, status, expected):
    got, answer = raw_call(api_key, "POST", "/message", raw, content_type)
    assert got == status, answer
    assert any(m.startswith(expected) for m in errors(answer)), errors(answer)


@pytest.mark.parametrize("path", ["/messages/bulk", "/messages/bulk/1"])
def test_deep_nesting_is_refused_on_every_body_taking_endpoint(api_key, path):
    got, answer = raw_call(api_key, "POST" if path.endswith("bulk") else "PUT", path, b"[" * 200_000)
    assert got in (400, 404)  # PUT finds no job 1 before reading the body
    assert errors(answer)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"])
@pytest.mark.parametrize(
    "path",
    [
        "/message",
        "/message/",
        "/messages",
        "/messages/",
        "/api",
        "/api/",
        "/messages/bulk",
        "/messages/bulk/",
        "/messages/bulk/7/",
        "/message/7/",
        "/api/nothing",
        "/api/openapi.json/",
        "/messages/x/y/z",
        "/message/%00",
        "/message/%ED%A0%80",
        "/messages%2Fbulk",
    ],
)
def test_every_path_under_the_api_prefixes_answers_json_never_html_nor_redirect(api_key, settings, method, path):
    for debug in (True, False):
        settings.DEBUG = debug
        response = Client().generic(method, path, b"{}", content_type="application/json", headers={"apikey": api_key})
        assert response.status_code not in (301, 302, 308, 500), (path, response.status_code)
        assert response["Content-Type"] == "application/json", (path, response.content[:100])
        if method != "HEAD":
            answer = json.loads(response.content)
            assert answer["status"] in ("success", "error"), answer
            if answer["status"] == "error":
                assert answer["errors"][0]["msg"]


def test_a_post_to_messages_without_slash_is_a_json_404_not_a_redirect(call):
    status, answer, _ = call("POST", "/messages", {"text": "Hi"})
    assert status == 404
    assert errors(answer) == ['There is no API endpoint at "/messages"; see /api/docs.']


def test_two_forms_of_one_number_answer_with_the_duplicate_dropped(call, channel):
    recipients = [{"to": "+14155550123"}, {"to": "14155550123"}, {"to": "+14155550124"}]
    data = {"provider": "sandbox", "channel_key": channel.channel_key, "recipients": recipients, "text": "Hi"}
    status, answer, _ = call("POST", "/messages/bulk", data)
    assert status == 200, answer
    assert answer["data"]["recipient_count"] == 2
    assert answer["data"]["duplicates_dropped"] == 1
    assert Campaign.objects.get().inline_recipients == [{"to": "+14155550123"}, {"to": "+14155550124"}]

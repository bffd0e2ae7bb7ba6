# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""Fuzzing with hostile input (hypothesis): a NUL or a lone surrogate anywhere in a body, random
bytes, deep nesting. Every answer is the JSON envelope with a 4xx naming the field; never a 500,
nothing saved. Run on PostgreSQL too (DATABASE_URL): it refuses NUL in text, SQLite does not."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import ApiKey, Campaign, OutboundMessage
from contacts.models import Contact
from tests.test_api_message import api_key, api_user  # noqa: F401

pytestmark = pytest.mark.django_db
HOSTILE = st.sampled_from(["\x00", "\ud800", "\udfff", "a\x00b", "\udc00x"])
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(autouse=True)
def the_key_may_save_and_update_contacts(api_key):
    """The bodies save contacts: the key's scope must allow it for their other fields to be judged."""
    ApiKey.objects.update(contact_saving=ApiKey.ContactSaving.UPDATE)


def post(api_key: str, path: str, raw: bytes):
    response = Client().post(path, raw, content_type="application/json", headers={"apikey": api_key})
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.status_code, [e["msg"] for e in json.loads(response.content).get("errors", [])]


def valid_message(channel) -> dict:
    return {
        "provider": "sandbox",
        "channel_key": channel.channel_key,
        "to": "+14155550123",
        "name": "Ann",
        "text": "Hi {{name}}",
        "image_urls": ["https://example.com/a.jpg"],
        "template": {"id": "welcome", "variables": {"1": "Ann"}},
        "contact_saving": {"save": True, "extra_fields": {"city": "Leeds"}},
    }


def string_paths(value: object, path: str = "") -> list[tuple[str, bool]]:
    """Every string in the body by its path, and whether it is a key (True) or a value."""
    found: list[tuple[str, bool]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            found.append((where, True))
            found.extend(string_paths(item, where))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(string_paths(item, f"{path}[{i}]"))
    elif isinstance(value, str):
        found.append((path, False))
    return found


def spoil(body: dict, path: str, is_key: bool, bad: str) -> dict:
    """The body with ``bad`` put into the string at ``path`` (a key's name, or a value)."""
    parts = path.replace("[", ".[").split(".")
    parent: object = body
    for part in parts[:-1]:
        parent = parent[int(part[1:-1])] if part.startswith("[") else parent[part]
    last = parts[-1]
    if last.startswith("["):
        parent[int(last[1:-1])] += bad
    elif is_key:
        parent[last + bad] = parent.pop(last)
    else:
        parent[last] += bad
    return body


@FUZZ
@given(data=st.data(), bad=HOSTILE)
def test_a_hostile_character_anywhere_is_a_400_naming_where(api_key, channel, data, bad):
    body = valid_message(channel)
    path, is_key = data.draw(st.sampled_from(string_paths(body)))
    raw = json.dumps(spoil(body, path, is_key, bad)).encode()  # \u0000 and \ud800 as JSON escapes
    status, errors = post(api_key, "/message", raw)
    assert status == 400, errors
    named = f'"{path}' if is_key else f"{path}: "
    assert any(message.startswith(named) for message in errors), (path, errors)
    assert not OutboundMessage.objects.exists()
    assert not Contact.objects.exists()


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_a_json_4xx(api_key, channel, raw):
    for path in ("/message", "/messages/bulk"):
        status, errors = post(api_key, path, raw)
        assert 400 <= status < 500 and errors
    assert not Campaign.objects.exists()


@FUZZ
@given(depth=st.integers(min_value=30, max_value=50_000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_a_400(api_key, channel, depth, opener):
    status, errors = post(api_key, "/messages/bulk", (opener * depth).encode())
    assert status == 400 and errors


@FUZZ
@given(text=st.text(), name=st.text(max_size=300))
def test_any_unicode_text_is_accepted_or_refused_never_a_500(api_key, channel, text, name):
    raw = json.dumps({**valid_message(channel), "text": text, "name": name}).encode()
    status, errors = post(api_key, "/message", raw)
    assert status in (200, 400), errors
    OutboundMessage.objects.all().delete()
    Contact.objects.all().delete()

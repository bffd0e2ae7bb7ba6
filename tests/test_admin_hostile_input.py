"""Hostile input in the staff forms (single message, message template, campaign): a NUL or the
bytes of a lone surrogate in any text field is a form error or harmlessly replaced, never a 500,
and nothing with a NUL or a surrogate is saved. Run on PostgreSQL too: it refuses NUL in text."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from campaigns.models import Campaign, MessageTemplate, OutboundMessage

pytestmark = pytest.mark.django_db
SURROGATE_BYTES = "%ED%A0%80"  # UTF-8's spelling of U+D800, which no UTF-8 text may hold
NUL_BYTES = "%00"


def form_body(fields: dict[str, str], spoilt: str, bad: str) -> bytes:
    """The urlencoded form with the raw bytes ``bad`` inside the field ``spoilt``."""
    marker = "SPOILHERE"
    encoded = urlencode({**fields, spoilt: f"{fields[spoilt]}{marker}"})
    return encoded.replace(marker, bad).encode()


def post_form(client, url: str, body: bytes):
    return client.post(url, body, content_type="application/x-www-form-urlencoded")


def assert_refused_or_clean(response, rows, bad: str) -> None:
    """A NUL is a form error; a surrogate's bytes are read as U+FFFD (never a character to store)."""
    assert response.status_code in (200, 302), response.status_code
    if bad == NUL_BYTES:
        assert response.status_code == 200
        assert "Null characters are not allowed." in response.content.decode()
    for row in rows:
        text = repr(row)
        assert "\\x00" not in text and "\\ud800" not in text, text


BAD = pytest.mark.parametrize("bad", [NUL_BYTES, SURROGATE_BYTES], ids=["NUL", "surrogate"])


@BAD
@pytest.mark.parametrize("field", ["to", "body", "media_url"])
def test_the_single_message_form(staff, channel, bad, field):
    fields = {"channel": str(channel.pk), "to": "+447911123456", "body": "Hi", "media_url": "https://e.com/a.png"}
    response = post_form(staff, "/admin/campaigns/outboundmessage/add/", form_body(fields, field, bad))
    assert_refused_or_clean(response, OutboundMessage.objects.values_list("to", "body", "media_urls"), bad)


@BAD
@pytest.mark.parametrize("field", ["name", "body", "provider_template_id"])
def test_the_template_form(staff, bad, field):
    fields = {
        "name": "Spring",
        "body": "Hi {{ name }}",
        "media_url": "",
        "provider_kind": "",
        "provider_template_id": "",
        "variables-TOTAL_FORMS": "0",
        "variables-INITIAL_FORMS": "0",
        "variables-MIN_NUM_FORMS": "0",
        "variables-MAX_NUM_FORMS": "1000",
    }
    response = post_form(staff, reverse("admin:campaigns_messagetemplate_add"), form_body(fields, field, bad))
    assert_refused_or_clean(response, MessageTemplate.objects.values_list("name", "body", "provider_template"), bad)


@BAD
@pytest.mark.parametrize("field", ["name", "text"])
def test_the_campaign_form(staff, channel, bad, field):
    fields = {"name": "Spring", "channel": str(channel.pk), "text": "Hi {{ name }}"}
    response = post_form(staff, reverse("admin:campaigns_campaign_add"), form_body(fields, field, bad))
    assert_refused_or_clean(response, Campaign.objects.values_list("name", "text"), bad)

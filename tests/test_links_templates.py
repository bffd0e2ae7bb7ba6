"""Tracked links in WhatsApp template variables: a URL in a value becomes the recipient's short link,
as in free text; the header's media and a URL button's suffix go as written; a retry sends the same links.

Real worker, real HTTP to the loopback Twilio fake (its Content list synced first)."""

from __future__ import annotations

import json

import pytest

from campaigns.links.codes import _shortened_values
from campaigns.models import Campaign, OutboundMessage, ShortLink
from campaigns.whatsapp.sync import sync_templates
from providers.fakes.templates import TWILIO_SPRING_SALE
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
BASE = "https://s.example/l/"
VALUE = "{{ first_name }}: https://shop.example/a?x=1, or (https://shop.example/{{ page }})."


@pytest.fixture(autouse=True)
def short_base(settings):
    settings.SHORT_LINK_BASE_URL = BASE


def content_variables(fake) -> dict[str, dict]:
    return {
        request.form["To"][0]: json.loads(request.form["ContentVariables"][0])
        for request in fake.received
        if "ContentSid" in request.form
    }


@pytest.fixture
def campaign(make_twilio_channel, make_contact, make_list):
    whatsapp = make_twilio_channel("twlowa")
    sync_templates(whatsapp)
    people = [make_contact("+447911123456", "Ann Smith"), make_contact("+447911123457", "Bob Jones")]
    for person, page in zip(people, ["faq", "shoes"], strict=True):
        person.extra_fields = {"page": page}
        person.save()
    template = {"id": TWILIO_SPRING_SALE, "variables": {"1": VALUE, "2": "Saturday"}}
    campaign = Campaign.objects.create(name="Spring", channel=whatsapp, provider_template=template)
    campaign.lists.add(make_list("Customers", people))
    return campaign


def test_urls_in_template_values_become_each_recipients_short_links(campaign, fake_twilio, worker):
    assert campaign.launch()
    worker()
    sent = content_variables(fake_twilio)
    for message in OutboundMessage.objects.filter(campaign=campaign).select_related("contact"):
        mine = list(ShortLink.objects.filter(message=message).order_by("id"))
        page = message.contact.extra_fields["page"]
        assert [link.url for link in mine] == ["https://shop.example/a?x=1", f"https://shop.example/{page}"]
        first = message.contact.name.split()[0]
        expected = {"1": f"{first}: {BASE}{mine[0].code}, or ({BASE}{mine[1].code}).", "2": "Saturday"}
        assert sent[f"whatsapp:{message.to}"] == expected  # what the provider got
        assert message.sent_template["variables"] == expected  # what the message page shows
        assert all(link.campaign_id == campaign.pk for link in mine)
    assert ShortLink.objects.count() == 4 and len(set(ShortLink.objects.values_list("code", flat=True))) == 4


def test_template_values_go_as_written_when_tracking_is_off(campaign, fake_twilio, worker):
    Campaign.objects.filter(pk=campaign.pk).update(track_links=False)
    assert campaign.launch()
    worker()
    assert content_variables(fake_twilio)["whatsapp:+447911123456"]["1"] == (
        "Ann: https://shop.example/a?x=1, or (https://shop.example/faq)."
    )
    assert not ShortLink.objects.exists()


def test_a_retry_sends_the_same_short_links_and_makes_no_more(campaign, fake_twilio, worker):
    fake_twilio.behaviour.error_rate = 1.0  # every request answered 500: the messages are retried later
    assert campaign.launch()
    worker()
    first = content_variables(fake_twilio)
    codes = set(ShortLink.objects.values_list("code", flat=True))
    assert len(codes) == 4 and all(BASE in values["1"] for values in first.values())

    fake_twilio.behaviour.error_rate = 0.0
    fake_twilio.received.clear()
    for message in OutboundMessage.objects.filter(campaign=campaign):
        assert message.status == "queued" and message.attempts == 1
        OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
        message.enqueue()
    worker()
    assert content_variables(fake_twilio) == first
    assert set(ShortLink.objects.values_list("code", flat=True)) == codes


def test_media_and_button_values_stay_as_written_and_other_parts_are_shortened():
    made: list[tuple[str, str]] = []
    values = {
        "MEDIA_URL": "https://cdn.example/spring.jpg",
        "Header": {"1": "Sale"},
        "Body": {"1": "See https://shop.example/x; https://shop.example/y!", "2": "ftp://files.example/z"},
        "Buttons": {"1": "https://shop.example/button"},
    }
    shortened = _shortened_values(values, made)
    assert [url for _, url in made] == ["https://shop.example/x", "https://shop.example/y"]
    (x, _), (y, _) = made
    assert shortened == {**values, "Body": {"1": f"See {BASE}{x}; {BASE}{y}!", "2": "ftp://files.example/z"}}


def test_a_code_clash_renames_the_short_links_in_the_values_sent_and_kept(campaign, fake_twilio, worker, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.links import codes

    taken = OutboundMessage.objects.create(channel=campaign.channel, to="+447911123499", body="x")
    now = timezone.now()
    ShortLink.objects.create(
        code="Clash001",
        message=taken,
        campaign_id=0,
        url="https://a.example",
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    fresh = codes.new_code
    clashing = iter(["Clash001"])
    monkeypatch.setattr(codes, "new_code", lambda: next(clashing, None) or fresh())
    assert campaign.launch()
    worker()
    sent = content_variables(fake_twilio)
    assert len(sent) == 2 and "Clash001" not in json.dumps(sent)
    for message in OutboundMessage.objects.filter(campaign=campaign):
        mine = [link.code for link in ShortLink.objects.filter(message=message).order_by("id")]
        assert len(mine) == 2 and all(f"{BASE}{code}" in sent[f"whatsapp:{message.to}"]["1"] for code in mine)
        assert message.sent_template["variables"] == sent[f"whatsapp:{message.to}"]

"""What a WhatsApp template message kept at hand-over: the template's id and name, the values sent and the
preview as the phone showed it; a retry sends those same values; the message page shows them.

Real worker, real HTTP to the loopback Twilio fake (its Content list synced first)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from campaigns.models import Campaign, OutboundMessage
from campaigns.whatsapp.sync import sync_templates
from contacts.models import Contact
from providers.fakes.templates import TWILIO_SPRING_SALE
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
SPRING_SALE = {"id": TWILIO_SPRING_SALE, "variables": {"1": '{{ first_name|default:"friend" }}', "2": "Saturday"}}


def content_variables(fake) -> list[tuple[str, dict]]:
    return [
        (request.form["To"][0], json.loads(request.form["ContentVariables"][0]))
        for request in fake.received
        if "ContentSid" in request.form
    ]


def test_a_campaigns_template_messages_keep_the_template_values_and_preview(
    make_twilio_channel, fake_twilio, make_contact, make_list, worker
):
    whatsapp = make_twilio_channel("twlowa")
    sync_templates(whatsapp)
    ann, nameless = make_contact("+447911123456", "Ann Smith"), make_contact("+447911123457", "")
    campaign = Campaign.objects.create(name="Spring", channel=whatsapp, provider_template=SPRING_SALE)
    campaign.lists.add(make_list("Customers", [ann, nameless]))
    assert campaign.launch()
    worker()
    kept = {m.to: m.sent_template for m in OutboundMessage.objects.filter(campaign=campaign)}
    assert kept[ann.phone] == {
        "id": TWILIO_SPRING_SALE,
        "name": "spring_sale",
        "language": "en",
        "variables": {"1": "Ann", "2": "Saturday"},
        "preview": "[media: https://example.com/spring.jpg]\n"
        "Hi Ann, our spring sale starts Saturday! Up to 40% off.\n"
        "[Shop now → https://example.com/sale]",
    }
    assert kept[nameless.phone]["variables"] == {"1": "friend", "2": "Saturday"}
    states = list(OutboundMessage.objects.filter(campaign=campaign).values_list("status", "error_message"))
    assert len(content_variables(fake_twilio)) == 2, (states, [(r.method, r.path) for r in fake_twilio.received])
    assert sorted(content_variables(fake_twilio)) == [
        (f"whatsapp:{ann.phone}", {"1": "Ann", "2": "Saturday"}),
        (f"whatsapp:{nameless.phone}", {"1": "friend", "2": "Saturday"}),
    ]


def test_a_retry_sends_the_values_kept_at_the_first_hand_over(make_twilio_channel, fake_twilio, make_contact, worker):
    whatsapp = make_twilio_channel("twlowa")
    sync_templates(whatsapp)
    ann = make_contact("+447911123456", "Ann Smith")
    fake_twilio.behaviour.error_rate = 1.0  # every request answered 500: the message is retried later
    message = OutboundMessage.send_one(channel=whatsapp, to=ann.phone, template=SPRING_SALE)
    worker()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.sent_template["variables"] == {"1": "Ann", "2": "Saturday"}
    assert content_variables(fake_twilio) == [(f"whatsapp:{ann.phone}", {"1": "Ann", "2": "Saturday"})]

    Contact.objects.filter(pk=ann.pk).update(name="Zoe Jones")  # changed between the two tries
    fake_twilio.behaviour.error_rate = 0.0
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
    message.enqueue()
    worker()
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2
    assert content_variables(fake_twilio)[-1] == (f"whatsapp:{ann.phone}", {"1": "Ann", "2": "Saturday"})
    assert message.sent_template["variables"] == {"1": "Ann", "2": "Saturday"}


def test_the_message_page_shows_the_template_values_and_preview(
    client, admin_user, make_twilio_channel, fake_twilio, make_contact, worker
):
    whatsapp = make_twilio_channel("twlowa")
    sync_templates(whatsapp)
    ann = make_contact("+447911123456", "Ann Smith")
    message = OutboundMessage.send_one(channel=whatsapp, to=ann.phone, template=SPRING_SALE)
    worker()
    client.force_login(admin_user)
    page = client.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "WhatsApp template sent" in page
    assert "spring_sale (en)" in page and TWILIO_SPRING_SALE in page
    assert "{{1}} = Ann\n{{2}} = Saturday" in page
    assert "Hi Ann, our spring sale starts Saturday! Up to 40% off." in page


def test_a_failure_outside_the_window_is_explained_on_the_message_page(client, admin_user, make_twilio_channel):
    whatsapp = make_twilio_channel("twlowa")
    message = OutboundMessage.objects.create(
        channel=whatsapp, to="+447911123456", body="Hello", status="failed", error_code="63016", error_message="x"
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Outside WhatsApp&#x27;s 24-hour window" in page or "Outside WhatsApp's 24-hour window" in page
    other = OutboundMessage.objects.create(
        channel=whatsapp, to="+447911123456", body="Hello", status="failed", error_code="63003", error_message="y"
    )
    page = client.get(reverse("admin:campaigns_outboundmessage_change", args=[other.pk])).content.decode()
    assert "24-hour window" not in page

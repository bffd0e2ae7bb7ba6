"""Outside WhatsApp's 24-hour window the inbox's reply box switches to templates: it offers the channel's
approved synced templates, each with the values it needs, and sends the chosen one through the normal
pipeline (real worker, the loopback Twilio fake)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import OutboundMessage, WhatsAppTemplate
from campaigns.whatsapp.sync import sync_templates
from providers.fakes.templates import TWILIO_ORDER_UPDATE
from tests import test_twilio_support as support
from tests.browser import log_in, shot
from tests.inbox_builders import a_conversation, a_reply

pytestmark = pytest.mark.django_db
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel


@pytest.fixture
def closed(make_twilio_channel, fake_twilio, make_contact):
    """A WhatsApp conversation whose contact last wrote 30 hours ago, on a channel with synced templates."""
    whatsapp = make_twilio_channel("twlowa", name="Shop WhatsApp")
    sync_templates(whatsapp)
    ann = make_contact("+447911000333", "Ann Smith")
    conversation = a_conversation(whatsapp, ann.phone, contact=ann)
    a_reply(conversation, "Where is my order?", at=timezone.now() - timedelta(hours=30))
    return conversation


def page_of(client, conversation) -> str:
    return client.get(reverse("admin:campaigns_conversation_change", args=[conversation.pk])).content.decode()


def send(client, conversation, data: dict) -> str:
    response = client.post(reverse("admin:campaigns_conversation_reply", args=[conversation.pk]), data)
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


def order_update(conversation) -> WhatsAppTemplate:
    return WhatsAppTemplate.objects.get(channel=conversation.channel, provider_id=TWILIO_ORDER_UPDATE)


def test_the_reply_box_offers_approved_templates_instead_of_free_text(staff, closed):
    page = page_of(staff, closed)
    assert 'id="template-reply-form"' in page and 'id="send-reply"' not in page
    assert ">order_update · en</option>" in page and ">spring_sale · en</option>" in page
    assert "flash_offer" not in page  # rejected
    assert "Hello Ana, your order A-1042 is on its way." in page  # the preview, with the samples


@pytest.mark.django_db(transaction=True)
def test_a_template_reply_goes_with_the_values_typed(staff, closed, fake_twilio, worker):
    template = order_update(closed)
    data = {"whatsapp_template": template.pk, f"t{template.pk}-variable-1": "Ann", f"t{template.pk}-variable-2": "B-7"}
    page = send(staff, closed, data)
    assert "is on its way" in page
    message = OutboundMessage.objects.get()
    assert message.template == {"id": TWILIO_ORDER_UPDATE, "variables": {"1": "Ann", "2": "B-7"}}
    worker()
    message.refresh_from_db()
    assert message.sent_template["preview"] == "Hello Ann, your order B-7 is on its way."
    went = [r for r in fake_twilio.received if "ContentSid" in r.form]
    assert len(went) == 1, (message.status, message.error_message, [(r.method, r.path) for r in fake_twilio.received])
    [request] = went
    assert json.loads(request.form["ContentVariables"][0]) == {"1": "Ann", "2": "B-7"}
    closed.refresh_from_db()
    assert closed.last_text == "Hello Ann, your order B-7 is on its way."


def test_a_template_reply_without_its_values_is_refused_naming_them(staff, closed):
    template = order_update(closed)
    page = send(staff, closed, {"whatsapp_template": template.pk, f"t{template.pk}-variable-1": "Ann"})
    assert "Not sent: {{2}}: give a value for each of “order_update (en)”" in page
    page = send(staff, closed, {"whatsapp_template": "999999"})
    assert "Not sent: whatsapp_template: &#x27;999999&#x27; is not an approved template" in page
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_template_reply_in_a_browser(page, live_server, nairobi_staff, closed):
    template = order_update(closed)
    log_in(page, live_server, nairobi_staff.username, f"/admin/campaigns/conversation/{closed.pk}/change/")
    assert "last wrote on" in page.inner_text("#reply-window") and "EAT" in page.inner_text("#reply-window")
    page.select_option("#reply-template", str(template.pk))
    values = page.locator(f'.reply-template-values[data-template="{template.pk}"]')
    assert values.is_visible() and page.locator(".reply-template-values:visible").count() == 1
    page.fill(f"#id_t{template.pk}-variable-1", "Ann")
    page.fill(f"#id_t{template.pk}-variable-2", "B-7")
    shot(page, "inbox/5-whatsapp-window-closed-template-reply")
    page.click("#send-template-reply")
    page.wait_for_selector(".messagelist")
    assert "is on its way" in page.inner_text(".messagelist")
    assert OutboundMessage.objects.get().template["variables"] == {"1": "Ann", "2": "B-7"}


def test_a_reply_that_failed_outside_the_window_is_explained_in_the_conversation(staff, closed):
    OutboundMessage.objects.create(
        channel=closed.channel,
        to=closed.phone,
        body="Yes it is",
        status="failed",
        error_code="63016",
        error_message="Failed to send freeform message because you are outside the allowed window.",
    )
    page = page_of(staff, closed)
    assert "Outside WhatsApp&#x27;s 24-hour window: the contact has not written to this channel" in page
    assert "(63016: Failed to send freeform message" in page


def test_the_analytics_failures_say_the_rule_in_the_same_words(closed):
    from campaigns.analytics.reading import failures
    from campaigns.models import Campaign, CampaignBreakdown

    campaign = Campaign.objects.create(name="Spring", channel=closed.channel, text="Hi")
    CampaignBreakdown.objects.create(
        campaign_id=campaign.pk, kind=CampaignBreakdown.Kind.ERROR, key="63016", meaning="outside the window", failed=3
    )
    [row] = failures(campaign.pk, provider="twlowa")
    assert row["meaning"].startswith("Outside WhatsApp's 24-hour window") and row["count"] == 3
    assert failures(campaign.pk)[0]["meaning"] == "outside the window"  # without the provider: as reported

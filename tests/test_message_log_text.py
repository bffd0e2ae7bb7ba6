"""The message log shows each recipient's text, placeholders filled, also for campaign messages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import Campaign, MessageTemplate, OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("maria", "maria@example.com", "a-long-test-password")
    client.force_login(user)
    return client


@pytest.fixture
def campaign(channel):
    template = MessageTemplate.objects.create(
        name="Sale", body='Hi {{ first_name }}, {{ city|default:"our shop" }} & more <b>today</b>'
    )
    return Campaign.objects.create(name="Spring", channel=channel, template=template)


def message_for(campaign, contact, status=OutboundMessage.Status.QUEUED, **fields) -> OutboundMessage:
    return OutboundMessage.objects.create(
        campaign=campaign,
        channel=campaign.channel,
        contact=contact,
        to=contact.phone,
        recipient_key=contact.phone,
        status=status,
        **fields,
    )


def test_a_queued_campaign_message_shows_the_text_its_recipient_will_get(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Ann Smith", city="Leeds"))
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Text for this recipient" in page
    assert "Hi Ann, Leeds &amp; more &lt;b&gt;today&lt;/b&gt;" in page  # escaped once by the page, not by the renderer
    assert "may have changed" not in page


def test_a_sent_campaign_message_shows_its_text_and_no_empty_body(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Bob"), status=OutboundMessage.Status.SENT)
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Hi Bob, our shop &amp; more" in page
    assert "the contact&#x27;s current values" in page
    assert "field-body" not in page


def test_a_message_with_its_own_variables_uses_them(staff, campaign, make_contact):
    message = message_for(campaign, make_contact(name="Ann"), variables={"city": "York"})
    page = staff.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Hi Ann, York &amp; more" in page


def test_the_log_lists_each_recipients_text(staff, campaign, make_contact):
    message_for(campaign, make_contact("+447911000001", name="Ann"))
    message_for(campaign, make_contact("+447911000002", name="Cem"))
    page = staff.get(reverse("admin:campaigns_outboundmessage_changelist")).content.decode()
    assert "Hi Ann, our shop" in page and "Hi Cem, our shop" in page

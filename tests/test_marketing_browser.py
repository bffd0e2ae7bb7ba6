"""A marketing user in a real browser: the channel page is view-only and shows no credentials."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, MessageTemplate, OutboundMessage
from contacts.models import Contact
from providers.models import Channel
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketing_sees_a_channel_without_credentials_and_cannot_reach_api_keys(page, live_server, marketing_staff):
    channel = Channel.objects.create(
        name="Twilio SMS", provider="twlo", sender="+15005550006", credentials={"auth_token": "tok-secret-1"}
    )
    log_in(page, live_server, "mia", f"/admin/providers/channel/{channel.pk}/change/")
    page.wait_for_selector(".field-credentials_state")
    shot(page, "templates/7-marketing-channel-view")
    assert "Set, not shown" in page.locator(".field-credentials_state").inner_text()
    assert "tok-secret-1" not in page.content()
    assert page.locator("input[type=password], textarea[name=new_credentials]").count() == 0
    page.goto(f"{live_server.url}/admin/")
    shot(page, "templates/8-marketing-index")
    assert page.locator("a[href='/admin/campaigns/apikey/']").count() == 0
    assert page.locator("a[href='/admin/auth/user/']").count() == 0
    assert page.locator("a[href='/admin/campaigns/messagetemplate/']").count() >= 1


def test_marketing_reads_each_recipients_text_in_the_message_log(page, live_server, marketing_staff):
    channel = Channel.objects.create(name="Sandbox", provider="sandbox", sender="+15005550006")
    template = MessageTemplate.objects.create(
        name="Sale", body='Hi {{ first_name }}, {{ city|default:"our shop" }} opens at 9!'
    )
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, template=template)
    ann = Contact.objects.create(phone="+447911123456", name="Ann Smith", extra_fields={"city": "Leeds"})
    message = OutboundMessage.objects.create(
        campaign=campaign,
        channel=channel,
        contact=ann,
        to=ann.phone,
        recipient_key=ann.phone,
        status=OutboundMessage.Status.DELIVERED,
    )
    log_in(page, live_server, "mia", "/admin/campaigns/outboundmessage/")
    page.wait_for_selector("#result_list")
    assert "Hi Ann, Leeds opens at 9!" in page.locator("#result_list td.field-text").first.inner_text()
    shot(page, "templates/9-message-log")
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/{message.pk}/change/")
    text = page.locator(".field-recipient_text").inner_text()
    assert "Hi Ann, Leeds opens at 9!" in text and "current values" in text
    assert page.locator(".field-body").count() == 0
    shot(page, "templates/10-message-text")

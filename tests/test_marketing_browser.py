"""A marketing user in a real browser: the channel page is view-only and shows no credentials."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from campaigns.models import Campaign, MessageTemplate, OutboundMessage
from contacts.models import Contact
from providers.models import Channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots/templates")


def marketing_group() -> Group:
    """The migration's group; a browser test's database may have been emptied by an earlier one."""
    migration = importlib.import_module("campaigns.migrations.0005_marketing_group")
    migration.create_marketing_group(apps, None)
    return Group.objects.get(name=migration.GROUP)


def test_marketing_sees_a_channel_without_credentials_and_cannot_reach_api_keys(page, live_server):
    user = get_user_model().objects.create_user("mia", "mia@example.com", "a-long-test-password", is_staff=True)
    user.groups.add(marketing_group())
    channel = Channel.objects.create(
        name="Twilio SMS", provider="twlo", sender="+15005550006", credentials={"auth_token": "tok-secret-1"}
    )
    page.goto(f"{live_server.url}/admin/login/?next=/admin/providers/channel/{channel.pk}/change/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector(".field-credentials_state")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "7-marketing-channel-view.png"), full_page=True)
    assert "Set, not shown" in page.locator(".field-credentials_state").inner_text()
    assert "tok-secret-1" not in page.content()
    assert page.locator("input[type=password], textarea[name=new_credentials]").count() == 0
    page.goto(f"{live_server.url}/admin/")
    page.screenshot(path=str(SHOTS / "8-marketing-index.png"), full_page=True)
    assert page.locator("a[href='/admin/campaigns/apikey/']").count() == 0
    assert page.locator("a[href='/admin/auth/user/']").count() == 0
    assert page.locator("a[href='/admin/campaigns/messagetemplate/']").count() >= 1


def test_marketing_reads_each_recipients_text_in_the_message_log(page, live_server):
    user = get_user_model().objects.create_user("mia", "mia@example.com", "a-long-test-password", is_staff=True)
    user.groups.add(marketing_group())
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
    page.goto(f"{live_server.url}/admin/login/?next=/admin/campaigns/outboundmessage/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert "Hi Ann, Leeds opens at 9!" in page.locator("#result_list td.field-text").first.inner_text()
    page.screenshot(path=str(SHOTS / "9-message-log.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/{message.pk}/change/")
    text = page.locator(".field-recipient_text").inner_text()
    assert "Hi Ann, Leeds opens at 9!" in text and "current values" in text
    assert page.locator(".field-body").count() == 0
    page.screenshot(path=str(SHOTS / "10-message-text.png"), full_page=True)

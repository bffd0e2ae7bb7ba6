"""A marketing person cancels campaigns and messages from their lists: each asks first, "No" leaves
everything as it was; the job queues refuse them, naming the permission.

Real Chromium against the live server; screenshots go to SCREENSHOTS_DIR/confirmations/ when it is set.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from contacts.models import ContactList
from tests import browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = Campaign.Status


def shot(page, name: str) -> None:
    browser.shot(page, f"confirmations/{name}")


def choose_action(page, row_text: str, action: str) -> None:
    page.locator("#result_list tbody tr").filter(has_text=row_text).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_cancelling_from_the_lists_asks_first(page, live_server, marketing_staff, channel):
    customers = ContactList.objects.create(name="Customers")
    soon = timezone.now() + timedelta(days=2)
    for name in ("Winter sale", "Spring preview"):
        campaign = Campaign.objects.create(
            name=name, channel=channel, text="Hi", status=Status.SCHEDULED, scheduled_at=soon
        )
        campaign.lists.add(customers)
    message = OutboundMessage.send_one(channel=channel, to="+447911123456", text="Your table is ready", send_at=soon)

    browser.log_in(page, live_server, "mia", "/admin/campaigns/campaign/")
    choose_action(page, "Winter sale", "cancel")
    assert "Messages not sent yet will never go" in page.locator(".confirm-consequence").inner_text()
    assert page.locator(".confirm-named").inner_text().strip() == "Winter sale"
    shot(page, "1-cancel-campaign")
    page.click("text=No, take me back")
    page.wait_for_selector("#result_list")
    assert Campaign.objects.get(name="Winter sale").status == Status.SCHEDULED

    choose_action(page, "Winter sale", "cancel")
    page.click("input[value='Yes, cancel them']")
    assert "Cancelled 1 campaign(s)." in page.locator(".messagelist").inner_text()
    assert Campaign.objects.get(name="Winter sale").status == Status.CANCELLED
    assert Campaign.objects.get(name="Spring preview").status == Status.SCHEDULED

    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/")
    choose_action(page, "+447911123456", "cancel_messages")
    assert "1 outbound message" in page.locator("#content-main").inner_text()
    shot(page, "2-cancel-messages")
    page.click("input[value='Yes, cancel them']")
    assert OutboundMessage.objects.get(pk=message.pk).status == OutboundMessage.Status.CANCELLED

    page.goto(f"{live_server.url}/admin/rq/")
    refusal = page.locator("#refusal").inner_text()
    assert "Can run the job queues and read the metrics" in refusal and "campaigns.operate_queues" in refusal
    shot(page, "3-queues-refused")

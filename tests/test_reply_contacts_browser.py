"""A number we never had replies: staff find its new contact by "came from a reply" and see where it
came from. Real Chromium against the live server; screenshots go to SCREENSHOTS_DIR/replies/."""

from __future__ import annotations

import pytest

from contacts.models import Contact
from providers.events import InboundEvent, receive_inbound
from providers.models import Channel
from tests import browser


@pytest.fixture
def replies(db) -> None:
    channel = Channel.objects.create(name="Demo SMS", provider="sandbox", sender="+15005550006")
    Contact.objects.create(phone="+447911123001", name="Ann Imported")
    receive_inbound(
        [
            InboundEvent(channel.pk, "+447911123001", "Thanks!", provider_message_id="SM1"),
            InboundEvent(channel.pk, "+447911123002", "Who is this?", provider_message_id="SM2", profile_name="Bob"),
        ]
    )


def test_staff_find_the_contacts_that_came_from_replies(page, live_server, administrator, replies):
    browser.log_in(page, live_server, administrator.username, "/admin/contacts/contact/")
    page.click("text=Came from a reply")
    page.wait_for_selector("#changelist")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "+447911123002" in rows.first.inner_text()
    browser.shot(page, "replies/01-contacts-from-replies", full_page=False)
    page.click("#result_list tbody tr a")
    page.wait_for_selector("text=Came from a reply")
    assert page.locator("input[name=name]").input_value() == "Bob"  # the WhatsApp profile name
    browser.shot(page, "replies/02-contact-from-a-reply")

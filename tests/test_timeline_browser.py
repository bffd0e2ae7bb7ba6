"""Replies on a campaign's page and a contact's timeline in a real browser, as Marketing reads them: the
campaign's replies and opt-outs, a reply's contact with every message both ways and the STOP, older
pages and back, and a reply's conversation in the inbox. Times in the viewer's zone, named.

Real Chromium against the live server; screenshots go to SCREENSHOTS_DIR/timeline/ when it is set.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage, StaffProfile
from contacts.models import Contact, Suppression
from tests import browser
from tests.inbox_builders import a_conversation, a_reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    browser.shot(page, f"timeline/{name}")


@pytest.fixture
def mia(marketing_staff):
    StaffProfile.objects.create(user=marketing_staff, time_zone="Africa/Nairobi")
    inbox = Permission.objects.filter(codename__in=["view_conversation", "change_conversation", "view_inboundmessage"])
    marketing_staff.user_permissions.add(*inbox)  # the group has them from a migration a flushed database lacks
    return marketing_staff


@pytest.fixture
def spring(channel) -> Campaign:
    """A finished campaign to three people: Ann asks a question, Bob says STOP. Ann has 60 older
    messages from us, so her timeline has pages."""
    began = timezone.now() - timedelta(hours=2)
    campaign = Campaign.objects.create(
        name="Spring sale", channel=channel, text="Hi", status=Campaign.Status.COMPLETED, started_at=began
    )
    people = [("+447911123401", "Ann Example"), ("+447911123402", "Bob Stopper"), ("+447911123403", "Cat Quiet")]
    contacts = [Contact.objects.create(phone=phone, name=name) for phone, name in people]
    ann = contacts[0]
    for n in range(60):  # made first: ids follow time, as in production
        old = OutboundMessage.objects.create(channel=channel, to=ann.phone, contact=ann, body=f"Order {n} shipped")
        OutboundMessage.objects.filter(pk=old.pk).update(created_at=began - timedelta(days=60 - n), status="delivered")
    for contact in contacts:
        OutboundMessage.objects.create(
            campaign=campaign, channel=channel, to=contact.phone, contact=contact, recipient_key=contact.phone,
            body=f"Hi {contact.name.split()[0]}, 20% off everything this weekend", status="delivered",
        )  # fmt: skip
    OutboundMessage.objects.filter(campaign=campaign).update(created_at=began)
    with_ann = a_conversation(channel, ann.phone, contact=ann)
    a_reply(with_ann, "What time does the sale start?", at=began + timedelta(minutes=10), campaign=campaign)
    with_bob = a_conversation(channel, "+447911123402", contact=Contact.objects.get(name="Bob Stopper"))
    a_reply(with_bob, "STOP", at=began + timedelta(minutes=12), keyword="STOP", campaign=campaign)
    Contact.opt_out_phone("+447911123402", "Replied STOP", source=Suppression.Source.REPLY, channel=channel.name)
    return campaign


def test_marketing_reads_a_campaigns_replies_and_a_contacts_timeline(page, live_server, mia, spring):
    browser.log_in(page, live_server, "mia", f"/admin/campaigns/campaign/{spring.pk}/change/")
    replies = page.locator("#campaign-replies")
    assert replies.locator('[data-figure="replies"]').inner_text() == "2"
    assert replies.locator('[data-figure="reply-rate"]').inner_text() == "66.7%"  # 2 replies to 3 messages sent
    assert replies.locator('[data-figure="opt-outs"]').inner_text() == "1"
    assert "AFRICA/NAIROBI (EAT" in replies.locator("#latest-replies thead").inner_text().upper()  # headers in capitals
    assert "still opted out" in replies.locator("#latest-opt-outs").inner_text()
    replies.scroll_into_view_if_needed()
    shot(page, "1-campaign-replies")

    page.click("#latest-replies >> text=+447911123401")
    page.wait_for_selector("#contact-timeline")
    timeline = page.locator("#contact-timeline")
    entries = timeline.locator("li.timeline-entry")
    assert entries.count() == 20
    assert "What time does the sale start?" in entries.nth(0).inner_text()
    assert "answering campaign Spring sale" in entries.nth(0).inner_text()
    assert "Hi Ann, 20% off" in entries.nth(1).inner_text() and "Delivered" in entries.nth(1).inner_text()
    assert "EAT" in entries.nth(0).locator("time").inner_text()
    assert "Times in Africa/Nairobi" in timeline.inner_text()
    timeline.scroll_into_view_if_needed()
    shot(page, "2-contact-timeline")

    page.click("#contact-timeline >> text=Older →")
    page.wait_for_selector(".contact-timeline-page")
    older = page.locator("li.timeline-entry")
    assert older.count() == 42  # the 60 older messages less the 18 the contact's page showed
    assert "Order 41 shipped" in older.nth(0).inner_text() and "Order 0 shipped" in older.last.inner_text()
    assert "That is everything." in page.inner_text(".timeline-nav")
    shot(page, "3-timeline-older-page")
    page.click("text=← Newest")
    assert page.locator("li.timeline-entry").nth(0).inner_text().count("What time does the sale start?") == 1

    page.click("li.timeline-entry >> nth=0 >> text=conversation")
    page.wait_for_selector("#conversation-timeline")
    assert "What time does the sale start?" in page.inner_text("#conversation-timeline")

    bob = Contact.objects.get(name="Bob Stopper")
    page.goto(f"{live_server.url}/admin/contacts/contact/{bob.pk}/change/")
    stop = page.locator("#contact-timeline li.timeline-entry")
    assert "Opted out" in stop.nth(0).inner_text() and "in force" in stop.nth(0).inner_text()
    assert "STOP" in stop.nth(1).inner_text()
    page.locator("#contact-timeline").scroll_into_view_if_needed()
    shot(page, "4-opted-out-contact")

"""The inbox in a real browser, as Marketing works it: replies appear in the list and in a conversation
without a reload, a question is answered from the conversation's page, the conversation is marked done,
and the dashboard points at what is still unread. On WhatsApp, a conversation older than 24 hours says
why free text cannot go before anyone tries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Conversation, OutboundMessage
from contacts.models import Contact
from providers.models import Channel
from tests.browser import log_in, shot
from tests.inbox_builders import a_conversation, a_reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
INBOX = "/admin/campaigns/conversation/"


def stays_on_this_page(page) -> None:
    """A mark on the page's window: a reload would wipe it."""
    page.evaluate("() => { window.inboxNeverReloaded = true; }")


def never_reloaded(page) -> bool:
    return page.evaluate("() => window.inboxNeverReloaded === true")


def test_marketing_sees_replies_arrive_answers_one_and_marks_it_done(page, live_server, marketing_staff, channel):
    ann = Contact.objects.create(phone="+447911123456", name="Ann Example")
    with_ann = a_conversation(channel, ann.phone, contact=ann)
    a_reply(with_ann, "What time does the sale start?", at=timezone.now() - timedelta(minutes=10))

    log_in(page, live_server, "mia", INBOX)
    assert "Ann Example" in page.inner_text("#result_list")
    assert page.inner_text("#result_list .field-unread") == "1"
    stays_on_this_page(page)

    bob = a_conversation(channel, "+447911000222")
    a_reply(bob, "Do you deliver to Leeds?")
    page.wait_for_selector("#result_list >> text=Do you deliver to Leeds?")
    assert never_reloaded(page)
    assert page.inner_text("#result_list tbody tr:first-child .field-who") == "+447911000222"  # newest first
    shot(page, "inbox/1-inbox-new-reply-arrived")
    page.click("#action-toggle")  # ticking all still works on the rows that came in
    assert page.inner_text(".action-counter") == "2 of 2 selected"
    page.click("#action-toggle")

    page.click("#result_list >> text=Ann Example")
    page.wait_for_selector("#conversation-timeline")
    assert "What time does the sale start?" in page.inner_text("#conversation-timeline")
    assert Conversation.objects.get(pk=with_ann.pk).unread_count == 0  # opening it read it
    stays_on_this_page(page)
    a_reply(with_ann, "Hello? Is anyone there?")
    page.wait_for_selector("#conversation-timeline >> text=Hello? Is anyone there?")
    assert never_reloaded(page)

    page.fill("#id_text", "It starts at 9:00 on Friday.")
    page.click("#send-reply")
    page.wait_for_selector(".messagelist")
    assert "Reply to +447911123456 is on its way" in page.inner_text(".messagelist")
    latest = page.locator("#conversation-timeline li").last
    assert "It starts at 9:00 on Friday." in latest.inner_text() and "Queued" in latest.inner_text()
    assert OutboundMessage.objects.get(to=ann.phone).body == "It starts at 9:00 on Friday."
    shot(page, "inbox/2-conversation-answered")

    page.click("#mark-done")
    page.wait_for_selector("#result_list")
    assert "marked done" in page.inner_text(".messagelist")
    assert Conversation.objects.get(pk=with_ann.pk).state == Conversation.State.DONE

    page.goto(f"{live_server.url}/admin/")
    attention = page.inner_text("#dashboard-attention")
    assert "1 conversation(s) with unread replies" in attention  # Bob's, still unread
    shot(page, "inbox/3-dashboard-unread-replies")
    page.click("#dashboard-attention >> text=conversation(s) with unread replies")
    page.wait_for_selector("#result_list")
    assert page.inner_text("#result_list .field-who") == "+447911000222"


def test_a_whatsapp_conversation_past_24_hours_says_why_free_text_cannot_go(page, live_server, marketing_staff):
    whatsapp = Channel.objects.create(name="Demo WhatsApp", provider="twlowa", sender="whatsapp:+15005550006")
    conversation = a_conversation(whatsapp, "+447911000333")
    a_reply(conversation, "Is the offer still on?", at=timezone.now() - timedelta(hours=30), keyword="")

    log_in(page, live_server, "mia", f"{INBOX}{conversation.pk}/change/")
    notice = page.inner_text("#reply-window")
    assert "within 24 hours of the contact's last message" in notice and "approved WhatsApp template" in notice
    assert page.locator("#send-reply").count() == 0  # no free text box: templates instead
    assert "No approved template is synced for Demo WhatsApp" in page.inner_text("#no-reply-templates")
    shot(page, "inbox/4-whatsapp-window-closed")

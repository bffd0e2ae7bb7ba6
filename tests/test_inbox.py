"""The inbox in the admin: conversations newest first with unread counts, filters, a conversation's page with
both directions, replies through the normal pipeline (and WhatsApp's 24-hour rule), read / done / reopen,
the live updates' JSON and the dashboard's count. Who may do each is in tests/test_permission_table.py."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.conversations import inbox
from campaigns.models import Campaign, Conversation, OutboundMessage, StaffProfile
from contacts.models import Suppression
from providers.models import Channel
from tests.browser import marketing_group
from tests.inbox_builders import a_conversation, a_reply

pytestmark = pytest.mark.django_db
INBOX = "/admin/campaigns/conversation/"
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


@pytest.fixture
def marketing(client):
    user = get_user_model().objects.create_user("mia", password="a-long-test-password", is_staff=True)
    user.groups.add(marketing_group())
    StaffProfile.objects.create(user=user, time_zone="Africa/Nairobi")
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db):
    from django.test import Client

    user = get_user_model().objects.create_user("vic", password="a-long-test-password", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def whatsapp(db) -> Channel:
    return Channel.objects.create(name="WhatsApp", provider="twlowa", sender="whatsapp:+15005550006")


def page_url(conversation: Conversation) -> str:
    return reverse("admin:campaigns_conversation_change", args=[conversation.pk])


def rows(page: str) -> list[str]:
    """The inbox rows' contact cells, top to bottom."""
    return re.findall(r'<th class="field-who"><a href="[^"]+">([^<]+)', page)


# --- the list ---------------------------------------------------------------------------------------------


def test_the_inbox_lists_conversations_newest_first_with_unread_counts(marketing, channel, make_contact):
    ann = make_contact("+447911123456", "Ann Example")
    older = a_conversation(channel, ann.phone, contact=ann)
    a_reply(older, "What time does the sale start?", at=timezone.now() - timedelta(hours=2))
    a_reply(older, "Hello?", at=timezone.now() - timedelta(hours=1))
    newer = a_conversation(channel, "+447911000002")
    a_reply(newer, "Thanks!", unread=False)

    page = marketing.get(INBOX).content.decode()

    assert rows(page) == ["+447911000002", "Ann Example "]
    assert "<h1>Inbox</h1>" in page
    assert "+447911123456" in page  # the number beside the name
    assert "Hello?" in page and "Sandbox" in page
    assert '<span class="inbox-unread">2</span>' in page
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page  # times in the viewer's zone, named
    local = timezone.localtime(newer.last_message_at, NAIROBI)
    assert re.search(rf'class="field-when">[^<]*{local:%H:%M}<', page)  # Nairobi's clock, not UTC's
    assert "inbox-state-open" in page


def test_filters_by_channel_campaign_unread_and_keyword(marketing, channel, whatsapp):
    sale = Campaign.objects.create(name="Sale", channel=channel, text="Hi", status=Campaign.Status.COMPLETED)
    question = a_conversation(channel, "+447911000001")
    a_reply(question, "When?", campaign=sale)
    stop = a_conversation(channel, "+447911000002")
    a_reply(stop, "STOP", keyword="STOP", unread=False)
    on_whatsapp = a_conversation(whatsapp, "+447911000003")
    a_reply(on_whatsapp, "Hi there", unread=False)

    def listed(query: str) -> list[str]:
        return rows(marketing.get(f"{INBOX}?{query}").content.decode())

    assert listed(f"channel__id__exact={whatsapp.pk}") == ["+447911000003"]
    assert listed(f"campaign={sale.pk}") == ["+447911000001"]
    assert listed("unread=yes") == ["+447911000001"]
    assert listed("unread=no") == ["+447911000003", "+447911000002"]
    assert listed("keyword=yes") == ["+447911000002"]
    assert listed("keyword=no") == ["+447911000003", "+447911000001"]
    assert listed("q=07911 000003") == []  # a UK number without its country is not a whole number
    assert listed("q=%2B44 7911 000003") == ["+447911000003"]
    assert listed("q=%2B4479110000") == ["+447911000003", "+447911000002", "+447911000001"]
    assert "Sale" in marketing.get(INBOX).content.decode()  # the campaign filter offers it


def test_a_campaign_filter_that_is_not_a_number_is_refused_by_name(marketing, channel):
    a_reply(a_conversation(channel), "Hi")
    page = marketing.get(f"{INBOX}?campaign=spring").content.decode()
    assert rows(page) == []
    assert "ampaign: &#x27;spring&#x27; is not a campaign&#x27;s number." in page


def test_the_inbox_never_counts_the_whole_table(marketing, channel, django_assert_max_num_queries):
    for n in range(3):
        a_reply(a_conversation(channel, f"+44791100000{n}"), f"reply {n}")
    with django_assert_max_num_queries(14):
        page = marketing.get(INBOX).content.decode()
    assert re.search(r"\b3\s+conversations", page)


# --- a conversation's page --------------------------------------------------------------------------------


def test_a_conversation_shows_both_directions_in_order_with_statuses(marketing, channel, make_contact, send_one):
    ann = make_contact()
    conversation = a_conversation(channel, ann.phone, contact=ann)
    sent = send_one(to=ann.phone, text="Spring sale starts Friday")
    OutboundMessage.objects.filter(pk=sent.pk).update(
        created_at=timezone.now() - timedelta(hours=3), status=OutboundMessage.Status.DELIVERED
    )
    a_reply(conversation, "What time does the sale start?", at=timezone.now() - timedelta(hours=2))
    send_one(to="+447911999999", text="To someone else")  # another number: not in this conversation

    page = marketing.get(page_url(conversation)).content.decode()

    sale, question = page.index("Spring sale starts Friday"), page.index("What time does the sale start?")
    assert sale < question  # oldest first, like a chat
    assert "Delivered" in page and "To someone else" not in page
    assert "Conversation with Ann Example" in page
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page


def test_a_long_conversation_shows_its_latest_page_and_links_to_older_ones(marketing, channel):
    conversation = a_conversation(channel)
    start = timezone.now() - timedelta(days=1)
    for n in range(inbox.PAGE + 5):
        a_reply(conversation, f"message number {n:03d}", at=start + timedelta(minutes=n))

    page = marketing.get(page_url(conversation)).content.decode()
    assert "message number 004" not in page and "message number 005" in page
    assert f"message number {inbox.PAGE + 4:03d}" in page
    older = re.search(r'id="older-messages" href="([^"]+)"', page).group(1).replace("&amp;", "&")

    earlier = marketing.get(page_url(conversation) + older).content.decode()
    assert "message number 000" in earlier and "message number 004" in earlier
    assert "message number 005" not in earlier
    assert 'id="older-messages"' not in earlier
    assert "Back to the latest messages" in earlier


def test_a_before_that_is_not_a_time_is_named_and_the_latest_page_shown(marketing, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hi")
    page = marketing.get(page_url(conversation) + "?before=yesterday", follow=True).content.decode()
    assert "efore: &#x27;yesterday&#x27; is not a date and time" in page  # the field, named
    assert "Hi" in page


def test_opening_a_conversation_marks_it_read_for_those_who_may_change_it(marketing, viewer, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hello")
    viewer.get(page_url(conversation))
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 1  # only reading: nothing changes
    marketing.get(page_url(conversation))
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0


def test_a_viewer_sees_no_reply_box_or_verbs(viewer, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hello")
    page = viewer.get(page_url(conversation)).content.decode()
    assert 'id="reply-form"' not in page and 'id="mark-done"' not in page
    assert "replying needs “Can change conversation”" in page


# --- replying ----------------------------------------------------------------------------------------------


def reply(client, conversation: Conversation, text: str) -> str:
    response = client.post(reverse("admin:campaigns_conversation_reply", args=[conversation.pk]), {"text": text})
    assert response.status_code == 302
    return client.get(response["Location"]).content.decode()


@pytest.mark.django_db(transaction=True)  # the send job is enqueued when the reply commits
def test_a_reply_goes_through_the_normal_pipeline(marketing, channel, make_contact, worker):
    ann = make_contact()
    conversation = a_conversation(channel, ann.phone, contact=ann)
    a_reply(conversation, "What time does the sale start?", at=timezone.now() - timedelta(minutes=5))

    page = reply(marketing, conversation, "  It starts at 9:00 on Friday.  ")

    message = OutboundMessage.objects.get(to=ann.phone)
    assert message.body == "It starts at 9:00 on Friday."
    assert message.contact == ann and message.channel == channel and message.sender_label == "mia"
    assert f"Reply to {ann.phone} is on its way" in page
    worker()
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SENT and message.provider_message_id  # the sandbox took it
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at  # the reply is the latest message
    assert conversation.last_text == "It starts at 9:00 on Friday."
    page = marketing.get(page_url(conversation)).content.decode()
    assert page.index("What time does the sale start?") < page.index("It starts at 9:00 on Friday.")
    assert "Sent" in page


def test_a_reply_to_a_suppressed_number_is_refused_with_the_reason(marketing, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "STOP", keyword="STOP")
    Suppression.add([conversation.phone], source=Suppression.Source.STAFF, reason="Replied STOP")

    page = reply(marketing, conversation, "Sorry to see you go")

    assert not OutboundMessage.objects.exists()
    assert "Not sent:" in page and conversation.phone in page
    assert Suppression.refusal(conversation.phone).split(":")[0] in page


@pytest.mark.parametrize(
    ("text", "said"),
    [("   ", "text: write the reply first"), ("a\x00b", "NUL character"), ("x" * 1601, "at most 1,600 characters")],
)
def test_a_bad_reply_is_refused_naming_the_field(marketing, channel, text, said):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hi")
    page = reply(marketing, conversation, text)
    assert said in page
    assert not OutboundMessage.objects.exists()


def test_whatsapp_free_text_is_refused_after_24_hours_of_the_contacts_last_message(marketing, whatsapp):
    conversation = a_conversation(whatsapp)
    a_reply(conversation, "Is it still on?", at=timezone.now() - timedelta(hours=25))

    shown = marketing.get(page_url(conversation)).content.decode()
    assert 'id="reply-window"' in shown and 'id="send-reply"' not in shown  # said before they try: no free text box
    page = reply(marketing, conversation, "Yes it is")

    assert not OutboundMessage.objects.exists()
    assert "within 24 hours of the contact&#x27;s last message" in page
    assert "last wrote on" in page and "Africa/Nairobi" in page
    assert "approved WhatsApp template" in page


def test_whatsapp_free_text_goes_within_24_hours(marketing, whatsapp):
    conversation = a_conversation(whatsapp)
    a_reply(conversation, "Is it still on?", at=timezone.now() - timedelta(hours=23))
    shown = marketing.get(page_url(conversation)).content.decode()
    assert "you can write freely until" in shown
    reply(marketing, conversation, "Yes it is")
    assert OutboundMessage.objects.get().body == "Yes it is"


def test_whatsapp_refuses_a_number_that_never_wrote(whatsapp):
    conversation = a_conversation(whatsapp)
    assert "has not written to this channel yet" in inbox.window_refusal(conversation)


def test_sms_has_no_24_hour_rule(channel):
    conversation = a_conversation(channel)
    assert inbox.window_refusal(conversation, now=timezone.now() + timedelta(days=400)) == ""


# --- read, done, reopen -----------------------------------------------------------------------------------


def mark(client, conversation: Conversation, verb: str):
    return client.post(reverse("admin:campaigns_conversation_mark", args=[conversation.pk, verb]), follow=True)


def test_mark_read_done_and_reopen(marketing, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hello")
    mark(marketing, conversation, "read")
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0
    page = mark(marketing, conversation, "done").content.decode()
    assert Conversation.objects.get(pk=conversation.pk).state == Conversation.State.DONE
    assert "marked done" in page and "<h1>Inbox</h1>" in page  # back to the rest of the inbox
    mark(marketing, conversation, "reopen")
    assert Conversation.objects.get(pk=conversation.pk).state == Conversation.State.OPEN
    said = mark(marketing, conversation, "archive").content.decode()
    assert "erb: &#x27;archive&#x27; is not one of read, done, reopen." in said


def test_verbs_are_posts_only(marketing, channel):
    conversation = a_conversation(channel)
    a_reply(conversation, "Hello")
    url = reverse("admin:campaigns_conversation_mark", args=[conversation.pk, "done"])
    assert marketing.get(url).status_code == 405
    assert Conversation.objects.get(pk=conversation.pk).state == Conversation.State.OPEN


def test_the_list_actions_mark_ticked_conversations(marketing, channel):
    first, second = a_conversation(channel, "+447911000001"), a_conversation(channel, "+447911000002")
    a_reply(first, "one")
    a_reply(second, "two")
    ticked = {"_selected_action": [first.pk, second.pk], "select_across": "0"}
    marketing.post(INBOX, {"action": "mark_read", **ticked})
    marketing.post(INBOX, {"action": "mark_done", **ticked})
    assert set(Conversation.objects.values_list("unread_count", "state")) == {(0, "done")}
    marketing.post(INBOX, {"action": "reopen", "_selected_action": [first.pk], "select_across": "0"})
    assert Conversation.objects.get(pk=first.pk).state == "open"
    assert Conversation.objects.get(pk=second.pk).state == "done"


# --- live updates -----------------------------------------------------------------------------------------


def test_the_inbox_token_moves_when_a_reply_arrives_or_is_read(marketing, channel):
    url = reverse("admin:campaigns_conversation_inbox_updates")
    conversation = a_conversation(channel)
    a_reply(conversation, "one")
    first = marketing.get(url).json()
    assert first["unread_conversations"] == 1 and first["unread_replies"] == 1 and first["capped"] is False
    assert marketing.get(url).json()["token"] == first["token"]  # nothing new: the page stays as it is

    a_reply(conversation, "two")
    second = marketing.get(url).json()
    assert second["token"] != first["token"] and second["unread_replies"] == 2

    inbox.mark_read(Conversation.objects.all())
    assert marketing.get(url).json()["token"] != second["token"]


def test_the_inbox_page_carries_the_token_its_script_polls(marketing, channel):
    a_reply(a_conversation(channel), "one")
    page = marketing.get(INBOX).content.decode()
    assert f'data-token="{inbox.latest_change()}"' in page
    assert 'data-poll-url="/admin/campaigns/conversation/updates.json"' in page
    assert "/static/js/inbox.js" in page and "<script>" not in page


def test_a_conversation_polls_its_latest_messages_and_stays_read(marketing, viewer, channel, send_one):
    conversation = a_conversation(channel)
    a_reply(conversation, "one", at=timezone.now() - timedelta(minutes=2))
    sent = send_one(to=conversation.phone, text="our answer")
    url = reverse("admin:campaigns_conversation_updates", args=[conversation.pk])

    watched = viewer.get(url).json()
    assert [(e["direction"], e["text"]) for e in watched["entries"]] == [("in", "one"), ("out", "our answer")]
    assert watched["entries"][1]["status"] == "queued" and watched["entries"][1]["key"] == f"out-{sent.pk}"
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 1  # a viewer changes nothing

    a_reply(conversation, "two")
    data = marketing.get(url).json()
    assert data["entries"][-1]["text"] == "two" and data["entries"][-1]["at_text"]
    assert data["state"] == "open"
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 0  # watched by someone who may change it


# --- the dashboard ----------------------------------------------------------------------------------------


def test_the_dashboard_counts_unread_replies_and_links_to_the_inbox(marketing, channel):
    assert "unread replies" not in marketing.get("/admin/").content.decode()
    first, second = a_conversation(channel, "+447911000001"), a_conversation(channel, "+447911000002")
    a_reply(first, "one")
    a_reply(first, "two")
    a_reply(second, "three")
    a_reply(a_conversation(channel, "+447911000003"), "read already", unread=False)

    page = marketing.get("/admin/").content.decode()

    assert "2 conversation(s) with unread replies" in page
    assert "3 unread replies: read and answer them in the inbox" in page
    assert 'href="/admin/campaigns/conversation/?unread=yes"' in page


def test_the_dashboards_count_stops_at_its_bound(channel, monkeypatch):
    monkeypatch.setattr(inbox, "UNREAD_SHOWN_UP_TO", 2)
    for n in range(3):
        a_reply(a_conversation(channel, f"+44791100000{n}"), "hi")
    unread = inbox.unread_summary()
    assert (unread.conversations, unread.replies, unread.capped) == (2, 2, True)

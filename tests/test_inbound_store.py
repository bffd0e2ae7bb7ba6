"""Storing replies (campaigns.conversations.store): once each, linked to contact, conversation, the
message they answer and its campaign, keywords acted on, a batch in a few statements."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.conversations.keywords import act_on_keyword, keyword_in
from campaigns.conversations.store import receive
from campaigns.events.signing import new_secret
from campaigns.models import Campaign, Conversation, InboundMessage, OutboundMessage, WebhookEndpoint, WebhookEvent
from contacts.models import Contact, ContactList, Suppression
from providers.events import InboundEvent, InboundMedia, receive_inbound
from providers.models import Channel

pytestmark = pytest.mark.django_db
ANN = "+447911123456"
BOB = "+447911123999"


@pytest.fixture
def sms(db) -> Channel:
    return Channel.objects.create(name="SMS", provider="sandbox", sender="+15005550006")


@pytest.fixture
def other(db) -> Channel:
    return Channel.objects.create(name="Other", provider="sandbox", sender="+15005550007")


def event(channel, text="Hello", phone=ANN, sid="", at=None, **more) -> InboundEvent:
    return InboundEvent(channel.pk, phone, text, provider_message_id=sid, at=at, **more)


def sent(channel, to=ANN, ago=timedelta(hours=1), campaign=None) -> OutboundMessage:
    return OutboundMessage.objects.create(
        channel=channel, to=to, body="Sale!", status="delivered", sent_at=timezone.now() - ago, campaign=campaign
    )


# --- stored once, with everything the provider said ----------------------------------------------


def test_a_reply_is_stored_with_its_text_media_id_time_and_profile_name(sms):
    at = timezone.now() - timedelta(minutes=3)
    media = (InboundMedia("https://example.com/a.jpg", "image/jpeg"),)
    receive([event(sms, "Look", sid="SM1", at=at, media=media, profile_name="Ann W")])
    message = InboundMessage.objects.get()
    assert (message.text, message.provider_message_id, message.received_at) == ("Look", "SM1", at)
    assert message.media == [{"url": "https://example.com/a.jpg", "type": "image/jpeg"}]
    assert (message.profile_name, message.phone, message.channel) == ("Ann W", ANN, sms)


def test_a_providers_retry_is_stored_once_and_counted_unread_once(sms):
    first = receive([event(sms, sid="SM1")])
    again = receive([event(sms, sid="SM1"), event(sms, sid="SM1")])
    assert (len(first.stored), len(again.stored), again.duplicates) == (1, 0, 2)
    assert InboundMessage.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1


def test_the_same_provider_id_on_two_channels_is_two_messages(sms, other):
    receive([event(sms, sid="SM1"), event(other, sid="SM1")])
    assert InboundMessage.objects.count() == 2


def test_a_retried_stop_acts_once(sms):
    receive([event(sms, "STOP", sid="SM1")])
    Contact.opt_in_phone(ANN, "staff decided")
    receive([event(sms, "STOP", sid="SM1")])  # a retry of the first, not a new STOP
    assert not Suppression.objects.filter(number=ANN).exists()


def test_messages_without_a_provider_id_are_each_kept(sms):
    receive([event(sms, "a"), event(sms, "a")])
    assert InboundMessage.objects.count() == 2


# --- contacts -------------------------------------------------------------------------------------


def test_a_known_number_is_linked_to_its_contact(sms, make_contact):
    ann = make_contact(ANN)
    receive([event(sms)])
    assert InboundMessage.objects.get().contact == ann
    assert Conversation.objects.get().contact == ann
    ann.refresh_from_db()
    assert ann.origin == Contact.Origin.ADDED


def test_an_unknown_number_becomes_a_contact_from_a_reply_on_no_list(sms):
    ContactList.objects.create(name="Everyone")
    receive([event(sms, profile_name="Bob B", phone=BOB)])
    bob = Contact.objects.get(phone=BOB)
    assert (bob.origin, bob.name, bob.lists.count()) == (Contact.Origin.REPLY, "Bob B", 0)
    assert not bob.is_opted_out
    assert InboundMessage.objects.get().contact == bob


def test_a_new_contact_for_a_suppressed_number_shows_it_opted_out(sms):
    Suppression.add([BOB], source=Suppression.Source.FILE, reason="Imported list")
    receive([event(sms, "Who is this?", phone=BOB)])
    assert Contact.objects.get(phone=BOB).is_opted_out


# --- what it answers ------------------------------------------------------------------------------


def test_a_reply_answers_the_latest_message_to_that_number_on_that_channel(sms, other):
    campaign = Campaign.objects.create(name="Sale", channel=sms)
    sent(sms, ago=timedelta(days=2))
    latest = sent(sms, ago=timedelta(hours=2), campaign=campaign)
    sent(other, ago=timedelta(minutes=5))  # another channel
    sent(sms, to=BOB, ago=timedelta(minutes=5))  # another number
    receive([event(sms, "When does it start?")])
    message = InboundMessage.objects.get()
    assert (message.in_reply_to, message.campaign) == (latest, campaign)
    assert Conversation.objects.get().last_campaign == campaign


def test_the_message_a_reply_quotes_beats_the_latest(sms):
    campaign = Campaign.objects.create(name="Sale", channel=sms)
    quoted = sent(sms, ago=timedelta(days=20), campaign=campaign)  # outside the window, and not the latest
    OutboundMessage.objects.filter(pk=quoted.pk).update(provider_message_id="SMquoted")
    sent(sms, ago=timedelta(hours=1))
    receive([event(sms, "Yes, that one", replied_to_provider_id="SMquoted")])
    message = InboundMessage.objects.get()
    assert (message.in_reply_to, message.campaign) == (quoted, campaign)


def test_a_quote_of_a_message_we_do_not_know_falls_back_to_the_latest(sms):
    latest = sent(sms, ago=timedelta(hours=1))
    receive([event(sms, "Hm", replied_to_provider_id="SMunknown")])
    assert InboundMessage.objects.get().in_reply_to == latest


def test_a_message_sent_after_the_reply_is_not_what_it_answers(sms):
    earlier = sent(sms, ago=timedelta(hours=3))
    sent(sms, ago=timedelta(minutes=1))
    receive([event(sms, at=timezone.now() - timedelta(hours=1))])
    assert InboundMessage.objects.get().in_reply_to == earlier


@pytest.mark.parametrize(("days_ago", "window", "linked"), [(6, 7, True), (8, 7, False), (2, 1, False), (2, 3, True)])
def test_only_a_message_within_the_reply_window_is_linked(sms, settings, days_ago, window, linked):
    settings.INBOUND_REPLY_WINDOW_DAYS = window
    campaign = Campaign.objects.create(name="Sale", channel=sms)
    sent(sms, ago=timedelta(days=days_ago), campaign=campaign)
    receive([event(sms)])
    message = InboundMessage.objects.get()
    assert (message.in_reply_to is not None, message.campaign == campaign) == (linked, linked)


def test_a_reply_to_a_number_we_never_wrote_to_is_stored_unlinked(sms):
    result = receive([event(sms, "Hi, who is this?")])
    assert result.stored[0].in_reply_to is None and result.stored[0].campaign is None


# --- conversations ---------------------------------------------------------------------------------


def test_the_conversation_keeps_the_newest_message_whatever_order_they_arrive_in(sms):
    now = timezone.now()
    receive([event(sms, "second", sid="2", at=now - timedelta(minutes=1))])
    receive([event(sms, "first", sid="1", at=now - timedelta(minutes=5))])  # late
    conversation = Conversation.objects.get()
    assert (conversation.last_text, conversation.unread_count) == ("second", 2)
    assert conversation.last_message_at == conversation.last_inbound_at == now - timedelta(minutes=1)


def test_a_done_conversation_opens_again_on_a_new_reply(sms):
    receive([event(sms, sid="1")])
    Conversation.objects.update(state=Conversation.State.DONE, unread_count=0)
    receive([event(sms, "More", sid="2")])
    conversation = Conversation.objects.get()
    assert (conversation.state, conversation.unread_count, conversation.last_text) == ("open", 1, "More")


def test_each_number_and_channel_has_one_conversation(sms, other):
    receive([event(sms, sid="1"), event(sms, sid="2"), event(other, sid="3"), event(sms, phone=BOB, sid="4")])
    assert sorted(Conversation.objects.values_list("channel__name", "phone", "unread_count")) == [
        ("Other", ANN, 1),
        ("SMS", ANN, 2),
        ("SMS", BOB, 1),
    ]


# --- refused, with the reason ---------------------------------------------------------------------


def test_an_event_for_a_deleted_channel_or_a_bad_number_is_refused_with_its_reason(sms):
    result = receive([InboundEvent(999_999, ANN, "hi"), event(sms, phone="12345"), event(sms, "kept")])
    assert [reason.split(" ")[0] for _, reason in result.refused] == ["channel", "phone:"]
    assert list(InboundMessage.objects.values_list("text", flat=True)) == ["kept"]


# --- keywords -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "STOP"),
        ("Stop.", "STOP"),
        ("  unsubscribe! ", "STOP"),
        ("\uff33\uff34\uff2f\uff30", "STOP"),  # full-width letters, as some phones type them
        ("stop please", ""),
        ("СТОП", ""),  # Russian: a word of its own, not Twilio's STOP
        ("Start", "START"),
        ("yes", "START"),
        ("Help?", "HELP"),
        ("", ""),
    ],
)
def test_a_keyword_is_the_whole_message_in_any_case_without_surrounding_punctuation(text, keyword):
    assert keyword_in(text) == keyword


def test_a_stop_is_recorded_and_puts_the_number_on_the_suppression_list(sms):
    receive([event(sms, "Stop.")])
    assert InboundMessage.objects.get().keyword == "STOP"
    row = Suppression.objects.get(number=ANN)
    assert (row.source, row.channel, row.reason) == ("reply", "SMS", "Replied STOP")


def test_twilios_opt_out_type_wins_over_the_text(sms, make_contact):
    make_contact(ANN)
    receive([event(sms, "please no more", opt_out_word="STOP")])
    assert InboundMessage.objects.get().keyword == "STOP"
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_start_takes_the_number_off_the_list(sms):
    receive([event(sms, "STOP", sid="1")])
    receive([event(sms, "start", sid="2")])
    assert not Suppression.objects.filter(number=ANN).exists()
    assert list(InboundMessage.objects.order_by("id").values_list("keyword", flat=True)) == ["STOP", "START"]


def test_an_ordinary_reply_is_no_keyword_and_costs_no_query(sms, django_assert_num_queries):
    receive([event(sms, "What time?")])
    message = InboundMessage.objects.select_related("channel").get()
    with django_assert_num_queries(0):
        assert act_on_keyword(message) == ""


# --- batches ----------------------------------------------------------------------------------------


def test_a_batch_of_a_thousand_replies_takes_a_few_statements(sms, django_assert_max_num_queries):
    campaign = Campaign.objects.create(name="Sale", channel=sms)
    numbers = [f"+4479111{index:05d}" for index in range(1000)]
    for number in numbers[:500]:
        Contact.objects.create(phone=number)
    OutboundMessage.objects.bulk_create(
        OutboundMessage(channel=sms, to=n, recipient_key=n, status="sent", sent_at=timezone.now(), campaign=campaign)
        for n in numbers[::2]
    )
    receive([event(sms, "hi", phone=numbers[0], sid="SM-first")])
    events = [event(sms, "STOP" if i == 7 else "hi", phone=n, sid=f"SM{i}") for i, n in enumerate(numbers)]
    # 14 statements for the thousand whatever their mix, 2 for the event webhooks, 1 for the channel's
    # keywords, 5 for the one STOP and 2 for its confirmation (its contact and the message), 6 for the
    # retry that makes a second chunk, the analytics tallies (with the A/B variants of the messages
    # answered), and savepoints: never one per message.
    with django_assert_max_num_queries(45):
        receive_inbound([*events, event(sms, "hi", phone=numbers[0], sid="SM-first")])
    assert InboundMessage.objects.count() == 1001
    assert InboundMessage.objects.filter(campaign=campaign).count() == 501
    assert Contact.objects.filter(origin=Contact.Origin.REPLY).count() == 500
    assert Conversation.objects.count() == 1000
    assert Conversation.objects.get(phone=numbers[0]).unread_count == 2
    assert Suppression.objects.filter(number=numbers[7]).exists()


# --- told to the event webhooks -----------------------------------------------------------------


def test_a_new_reply_and_a_new_opt_out_are_recorded_for_the_event_webhooks_once(sms):
    WebhookEndpoint.objects.create(
        url="https://example.com/hook", secret=new_secret(), event_types=["message.replied", "contact.opted_out"]
    )
    for _ in range(2):  # the provider's retry tells nothing more
        receive([event(sms, "STOP", sid="SM1")])
    types = sorted(WebhookEvent.objects.values_list("type", flat=True))
    assert types == ["contact.opted_out", "message.replied"]
    replied = WebhookEvent.objects.get(type="message.replied").payload["data"]
    assert (replied["from"], replied["text"], replied["provider_message_id"]) == (ANN, "STOP", "SM1")

"""Keywords acted on and answered through the real paths: a signed Twilio inbound webhook (and the
inbound book for the sandbox), the store, the keyword handler, and a real RQ worker sending the
answers through the loopback fake Twilio or the sandbox.

STOP is confirmed once, to the number it has just suppressed, and nothing else ever goes to it;
Twilio's Advanced Opt-Out answering (OptOutType) keeps us silent; HELP names the sender and how to
stop; JOIN records consent and adds to the list, or with double opt-in waits for a YES within 24 hours.
"""

from __future__ import annotations

import time
from datetime import timedelta

import django_rq
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import ChannelKeywords, InboundMessage, JoinKeyword, OutboundMessage
from campaigns.pipeline import unknown_outcomes
from contacts.models import Consent, Contact, ContactList, Suppression
from providers.events import InboundEvent, receive_inbound
from tests import test_gupshup_webhooks as gupshup
from tests import test_twilio_support as support
from tests.test_twilio_webhooks import inbound_params, post_signed

fake_twilio, twilio_server, make_twilio_channel = (
    support.fake_twilio,
    support.twilio_server,
    support.make_twilio_channel,
)
gupshup_channel = gupshup.gupshup_channel
pytestmark = pytest.mark.django_db
ANN, BOB = "+447911123456", "+447911123999"
Status = OutboundMessage.Status


@pytest.fixture
def twilio(make_twilio_channel):
    return make_twilio_channel(name="Acme SMS")


@pytest.fixture
def text_in(client, django_capture_on_commit_callbacks):
    """A reply posted to the channel's inbound webhook, signed as Twilio signs, committed."""

    def post(channel, body: str, sender: str = ANN, **extra: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_signed(client, channel, "inbound", inbound_params(body, sender=sender, **extra))
        assert response.status_code == 200, response.content

    return post


@pytest.fixture
def sandbox_text_in(django_capture_on_commit_callbacks):
    """A reply handed to the inbound book as a provider's webhook hands it (the sandbox has none)."""

    def receive(channel, body: str, sender: str = ANN, at=None, sid: str = "") -> None:
        sid = sid or f"SB{InboundMessage.objects.count() + 1}-{body}"
        with django_capture_on_commit_callbacks(execute=True):
            receive_inbound([InboundEvent(channel.pk, sender, body, provider_message_id=sid, at=at)])

    return receive


@pytest.fixture
def worker(worker, django_capture_on_commit_callbacks):
    """The real worker, run again while a message waits for its next attempt: on a loaded machine a
    request that could not leave by its booked time is held back ("late") and goes a moment later
    (its send job is enqueued when the worker's transaction commits: here, the test's)."""

    def run() -> None:
        for _ in range(20):
            with django_capture_on_commit_callbacks(execute=True):
                worker()
            waiting = OutboundMessage.objects.filter(status=Status.QUEUED, next_attempt_at__isnull=False)
            due = waiting.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
            if due is None:
                return
            time.sleep(min(max((due - timezone.now()).total_seconds(), 0) + 0.05, 2))

    return run


def sent_to(fake, number: str) -> list[str]:
    """The bodies the fake Twilio accepted for ``number``, in order."""
    return [m["body"] for m in sorted(fake.messages.values(), key=lambda m: m["date_created"]) if m["to"] == number]


# --- opting out -------------------------------------------------------------------------------------


def test_stop_is_confirmed_once_through_the_worker_and_nothing_else_reaches_the_number(
    twilio, text_in, worker, fake_twilio, django_capture_on_commit_callbacks
):
    queued_before = OutboundMessage.send_one(channel=twilio, to=ANN, text="Sale today!", enqueue=False)
    text_in(twilio, "Stop.")
    assert Suppression.objects.filter(number=ANN, source="reply", reason="Replied STOP").exists()
    worker()
    assert sent_to(fake_twilio, ANN) == [
        "You have successfully been unsubscribed. You will not receive any more messages from this number. "
        "Reply START to resubscribe."
    ]
    confirmation = OutboundMessage.objects.get(confirms_opt_out=True)
    assert (confirmation.status, confirmation.sender_label) == (Status.SENT, "Keyword reply")
    with django_capture_on_commit_callbacks(execute=True):
        queued_before.enqueue()
    worker()
    assert OutboundMessage.objects.get(pk=queued_before.pk).status == Status.CANCELLED  # the send-time check
    text_in(twilio, "STOP")  # already suppressed: no second confirmation
    worker()
    assert len(sent_to(fake_twilio, ANN)) == 1
    assert OutboundMessage.objects.filter(confirms_opt_out=True).count() == 1
    with pytest.raises(ValidationError, match="has opted out"):
        OutboundMessage.send_one(channel=twilio, to=ANN, text="Are you sure?")
    assert InboundMessage.objects.filter(keyword="STOP").count() == 2


def test_two_stops_at_once_make_one_confirmation(twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        receive_inbound(
            [
                InboundEvent(twilio.pk, ANN, "STOP", provider_message_id="SM1"),
                InboundEvent(twilio.pk, ANN, "end", provider_message_id="SM2"),
            ]
        )
    assert OutboundMessage.objects.filter(to=ANN).count() == 1
    assert django_rq.get_queue("high").count + django_rq.get_queue("default").count == 1


def test_twilios_advanced_opt_out_answers_so_we_stay_silent_unless_told(twilio, text_in, worker, fake_twilio):
    text_in(twilio, "STOP", OptOutType="STOP")
    text_in(twilio, "HELP", sender=BOB, OptOutType="HELP")
    assert Suppression.objects.filter(number=ANN).exists()
    assert not OutboundMessage.objects.exists()
    keywords = ChannelKeywords.defaults_for(twilio)
    keywords.reply_when_provider_answered = True
    keywords.save()
    text_in(twilio, "START", OptOutType="START")
    worker()
    assert sent_to(fake_twilio, ANN) == [keywords.opt_in_reply]
    assert not Suppression.objects.filter(number=ANN).exists()


def test_a_confirmation_in_doubt_is_never_resent(twilio, text_in):
    text_in(twilio, "STOP")
    confirmation = OutboundMessage.objects.get(confirms_opt_out=True)
    OutboundMessage.objects.filter(pk=confirmation.pk).update(status=Status.UNKNOWN)
    resolved = unknown_outcomes.resend([confirmation.pk], by="maria", duplicates_accepted=True)
    assert resolved.changed == 0
    assert OutboundMessage.objects.get(pk=confirmation.pk).status == Status.UNKNOWN


# --- opting back in, and help -------------------------------------------------------------------------


def test_start_lifts_the_suppression_and_is_confirmed_but_a_start_that_changes_nothing_is_not(
    twilio, text_in, worker, fake_twilio
):
    text_in(twilio, "STOP")
    text_in(twilio, "start!")
    worker()
    assert not Suppression.objects.filter(number=ANN).exists()
    assert sent_to(fake_twilio, ANN)[1].startswith("You have successfully been re-subscribed")
    text_in(twilio, "START")  # already subscribed: nothing to confirm
    worker()
    assert len(sent_to(fake_twilio, ANN)) == 2
    assert InboundMessage.objects.filter(keyword="START").count() == 2


def test_help_is_answered_naming_the_sender_and_how_to_stop(twilio, text_in, worker, fake_twilio):
    text_in(twilio, " info? ")
    worker()
    [answer] = sent_to(fake_twilio, ANN)
    assert answer.startswith("Acme SMS:") and "STOP" in answer
    assert InboundMessage.objects.get().keyword == "HELP"


def test_a_suppressed_number_still_gets_its_help_answer_and_nothing_else(
    twilio, text_in, worker, fake_twilio, django_capture_on_commit_callbacks
):
    """Carriers (CTIA) expect HELP answered whatever the number's opt-in state: after STOP too. The
    answer goes past the suppression list; no other message does, and the number stays suppressed."""
    keywords = ChannelKeywords.defaults_for(twilio)
    queued_before = OutboundMessage.send_one(channel=twilio, to=ANN, text="Sale today!", enqueue=False)
    text_in(twilio, "STOP")
    text_in(twilio, "HELP")
    with django_capture_on_commit_callbacks(execute=True):
        queued_before.enqueue()
    worker()
    assert sent_to(fake_twilio, ANN) == [keywords.opt_out_reply, keywords.help_reply]
    answer = OutboundMessage.objects.get(to=ANN, body=keywords.help_reply)
    assert (answer.status, answer.sender_label, answer.answers_help) == (Status.SENT, "Keyword reply", True)
    assert OutboundMessage.objects.get(pk=queued_before.pk).status == Status.CANCELLED  # the send-time check
    assert Suppression.objects.filter(number=ANN).exists()  # HELP changes nothing: still opted out
    with pytest.raises(ValidationError, match="has opted out"):
        OutboundMessage.send_one(channel=twilio, to=ANN, text="Are you sure?")
    text_in(twilio, "START")  # START still lifts it, and is confirmed
    worker()
    assert sent_to(fake_twilio, ANN)[-1] == keywords.opt_in_reply
    assert not Suppression.objects.filter(number=ANN).exists()


def test_answers_can_be_switched_off_and_an_ordinary_reply_gets_none(twilio, text_in, worker, fake_twilio):
    keywords = ChannelKeywords.defaults_for(twilio)
    keywords.opt_out_reply = keywords.help_reply = ""
    keywords.save()
    text_in(twilio, "HELP")
    text_in(twilio, "stop please")  # not a keyword: the carriers' rule
    text_in(twilio, "STOP", sender=BOB)
    worker()
    assert fake_twilio.messages == {}
    assert not Suppression.objects.filter(number=ANN).exists()
    assert Suppression.objects.filter(number=BOB).exists()


@pytest.mark.parametrize("text", ["Arrêt", "¡BAJA!", "ＳＴＯＰ", "Стоп.", "τέλος", "\u200bparar"])  # noqa: RUF001
def test_words_in_other_languages_and_scripts_opt_out(twilio, text_in, text):
    keywords = ChannelKeywords.defaults_for(twilio)
    keywords.opt_out_words += ["ARRÊT", "BAJA", "PARAR", "СТОП", "ΤΈΛΟΣ"]
    keywords.full_clean()
    keywords.save()
    text_in(twilio, text)
    assert Suppression.objects.filter(number=ANN).exists()
    assert InboundMessage.objects.get().keyword == "STOP"


def test_a_word_removed_from_the_list_is_an_ordinary_reply(twilio, text_in):
    keywords = ChannelKeywords.defaults_for(twilio)
    keywords.opt_in_words = ["START", "UNSTOP"]  # YES answers questions here
    keywords.save()
    text_in(twilio, "STOP")
    text_in(twilio, "Yes")
    assert Suppression.objects.filter(number=ANN).exists()
    assert InboundMessage.objects.get(text="Yes").keyword == ""


# --- joining by keyword ---------------------------------------------------------------------------------


@pytest.fixture
def newsletter(db) -> ContactList:
    return ContactList.objects.create(name="Newsletter")


def join_word(channel, contact_list, **fields) -> JoinKeyword:
    keywords = ChannelKeywords.defaults_for(channel)
    keywords.save()
    join = JoinKeyword(keywords=keywords, word="JOIN", contact_list=contact_list, **fields)
    join.full_clean()
    join.save()
    return join


def test_join_adds_to_the_list_records_consent_and_confirms(twilio, text_in, worker, fake_twilio, newsletter):
    join_word(twilio, newsletter, reply="Welcome to Acme news! Reply STOP to stop.")
    text_in(twilio, "join")
    worker()
    assert newsletter.contacts.filter(phone=ANN).exists()
    reply = InboundMessage.objects.get()
    consent = Consent.objects.get()
    assert (consent.number, consent.channel, consent.keyword, consent.list_name) == (
        ANN,
        "Acme SMS",
        "JOIN",
        "Newsletter",
    )
    assert (consent.message_id, consent.provider_message_id) == (reply.pk, reply.provider_message_id)
    assert consent.texted_at == reply.received_at and consent.state == Consent.State.JOINED
    assert consent.contact == Contact.objects.get(phone=ANN)
    assert reply.keyword == "JOIN"
    assert sent_to(fake_twilio, ANN) == ["Welcome to Acme news! Reply STOP to stop."]


def test_double_opt_in_adds_only_after_a_yes_within_24_hours(sandbox_text_in, channel, newsletter, worker):
    channel.rate_limit = 1000
    channel.save()
    join_word(channel, newsletter, double_opt_in=True)
    start = timezone.now() - timedelta(hours=30)
    sandbox_text_in(channel, "JOIN", at=start)
    assert not newsletter.contacts.exists()
    assert Consent.objects.get().state == Consent.State.WAITING
    assert OutboundMessage.objects.get().body.startswith("Reply YES within 24 hours")
    sandbox_text_in(channel, "YES", at=start + timedelta(hours=23, minutes=59))
    worker()
    consent = Consent.objects.get()
    assert consent.state == Consent.State.JOINED and consent.confirmed_at == start + timedelta(hours=23, minutes=59)
    assert consent.confirmed_by_message_id == InboundMessage.objects.get(text="YES").pk
    assert newsletter.contacts.filter(phone=ANN).exists()
    bodies = list(OutboundMessage.objects.order_by("id").values_list("body", "status"))
    assert [body for body, _ in bodies][1].startswith("Thanks, you have joined")  # not the opt-in confirmation
    assert {status for _, status in bodies} == {Status.SENT}  # the worker sent both on the sandbox


def test_a_yes_after_24_hours_joins_nothing(sandbox_text_in, channel, newsletter):
    join_word(channel, newsletter, double_opt_in=True)
    start = timezone.now() - timedelta(hours=30)
    sandbox_text_in(channel, "JOIN", at=start)
    sandbox_text_in(channel, "yes", at=start + timedelta(hours=24, minutes=1))
    assert not newsletter.contacts.exists()
    consent = Consent.objects.get()
    assert consent.state == Consent.State.WAITING and consent.outcome == "Expired (no YES in 24 h)"
    assert OutboundMessage.objects.count() == 1  # the request for YES only


def test_joining_never_lifts_a_suppression(twilio, text_in, worker, fake_twilio, newsletter):
    join_word(twilio, newsletter)
    text_in(twilio, "STOP")
    text_in(twilio, "JOIN")
    worker()
    assert Suppression.objects.filter(number=ANN).exists()
    assert Consent.objects.get().state == Consent.State.JOINED  # what the number asked for is recorded
    assert len(sent_to(fake_twilio, ANN)) == 1  # the STOP's confirmation; nothing for JOIN
    text_in(twilio, "START")  # the opt-in word is what lets messages go again
    worker()
    assert not Suppression.objects.filter(number=ANN).exists()
    assert len(sent_to(fake_twilio, ANN)) == 2


def test_answers_of_a_batch_go_in_one_send_job(twilio, django_capture_on_commit_callbacks):
    events = [InboundEvent(twilio.pk, f"+4479111234{n:02d}", "HELP", provider_message_id=f"SM{n}") for n in range(20)]
    with django_capture_on_commit_callbacks(execute=True):
        receive_inbound(events)
    assert OutboundMessage.objects.count() == 20
    assert django_rq.get_queue("high").count + django_rq.get_queue("default").count == 1


def test_a_whatsapp_join_through_gupshup_waits_for_its_yes(
    client, gupshup_channel, newsletter, django_capture_on_commit_callbacks
):
    join_word(gupshup_channel, newsletter, double_opt_in=True)
    joined, confirmed = gupshup.inbound("Join!"), gupshup.inbound("yes")
    confirmed["timestamp"] = joined["timestamp"] + 3_600_000  # an hour later
    with django_capture_on_commit_callbacks(execute=True):
        assert gupshup.post(client, gupshup_channel, joined).status_code == 200
    consent = Consent.objects.get()
    assert (consent.number, consent.channel, consent.state) == ("+447911123999", "Gupshup", Consent.State.WAITING)
    assert not newsletter.contacts.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert gupshup.post(client, gupshup_channel, confirmed).status_code == 200
    consent.refresh_from_db()
    assert consent.state == Consent.State.JOINED and newsletter.contacts.filter(phone="+447911123999").exists()
    answers = OutboundMessage.objects.filter(channel=gupshup_channel, to="+447911123999").order_by("id")
    assert [body[:20] for body in answers.values_list("body", flat=True)] == [
        "Reply YES within 24 ",
        "Thanks, you have joi",
    ]

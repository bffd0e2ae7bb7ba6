"""How each kind of Twilio answer is classified, against the loopback fake and through the pipeline."""

from __future__ import annotations

import socket
import time

import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import LATE_RETRY, send_messages
from contacts.models import Contact
from providers import http, ratelimit
from providers.base import ChannelError, Outcome, OutgoingMessage
from providers.fakes.server import Behaviour
from providers.registry import provider_for
from tests import test_twilio_support as support
from tests.test_twilio_support import (
    AUTH_TOKEN,
)

pytestmark = pytest.mark.django_db
# The shared fixtures (pytest finds fixtures by name in the test module).
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
Status = OutboundMessage.Status
ANN, BOB = "+447911123456", "+447911123457"


def send(channel, to: str = ANN, text: str = "Hi"):
    [result] = provider_for(channel).send_batch([OutgoingMessage(id=1, to=to, text=text)])
    return result


def test_an_invalid_number_fails_for_good_with_twilios_code_and_reason(fake_twilio, make_twilio_channel):
    fake_twilio.invalid_numbers.add(ANN)
    result = send(make_twilio_channel())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "21211")
    assert ANN in result.error_message
    assert not result.opted_out


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21408, "Permission to send an SMS has not been enabled for the region"),
        (21612, "The 'To' phone number is not currently reachable via SMS"),
        (63014, "The message could not be delivered: the user blocked the sender"),
        (63016, "Failed to send freeform message because you are outside the allowed window"),
        (21999, "Some other refusal"),
    ],
)
def test_refusals_of_the_recipient_fail_for_good(fake_twilio, make_twilio_channel, code, reason):
    fake_twilio.errors[ANN] = (400, code, reason)
    result = send(make_twilio_channel("twlowa"))
    assert (result.outcome, result.error_code, result.error_message) == (Outcome.FAILED, str(code), reason)
    assert result.retry_after is None


def test_an_unsubscribed_recipient_fails_and_is_reported_opted_out(fake_twilio, make_twilio_channel):
    fake_twilio.unsubscribed.add(ANN)
    result = send(make_twilio_channel())
    assert (result.outcome, result.error_code, result.opted_out) == (Outcome.FAILED, "21610", True)


def test_unsubscribed_through_the_pipeline_opts_the_contact_out(fake_twilio, make_twilio_channel):
    fake_twilio.unsubscribed.add(ANN)
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to=ANN, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.FAILED, "21610")
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_too_many_requests_is_retried_after_what_twilio_asks(fake_twilio, make_twilio_channel):
    fake_twilio.behaviour = Behaviour(rate_limit=1)
    channel = make_twilio_channel(rate_limit=1000)
    messages = [OutgoingMessage(id=i, to=ANN, text="Hi") for i in range(3)]
    results = provider_for(channel).send_batch(messages)
    retried = [r for r in results if r.outcome == Outcome.RETRY]
    assert len([r for r in results if r.outcome == Outcome.ACCEPTED]) == 1
    assert len(retried) == 2
    assert all((r.error_code, r.retry_after) == ("20429", 1.0) for r in retried)


@pytest.mark.parametrize("code", [20429, 21611, 30001])
def test_busy_codes_are_retried(fake_twilio, make_twilio_channel, code):
    fake_twilio.errors[ANN] = (400 if code != 20429 else 429, code, "Queue overflow")
    result = send(make_twilio_channel())
    assert (result.outcome, result.error_code) == (Outcome.RETRY, str(code))


def test_a_server_error_is_retried(fake_twilio, make_twilio_channel):
    fake_twilio.behaviour = Behaviour(error_rate=1.0)
    result = send(make_twilio_channel())
    assert result.outcome == Outcome.RETRY


def test_a_retry_through_the_pipeline_waits_at_least_as_long_as_twilio_asked(fake_twilio, make_twilio_channel):
    fake_twilio.errors[ANN] = (429, 20429, "Too Many Requests")
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to=ANN, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.QUEUED, "20429")
    assert message.next_attempt_at is not None


def test_bad_credentials_raise_a_channel_error(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(credentials={"account_sid": fake_twilio.account_sid, "auth_token": "wrong"})
    with pytest.raises(ChannelError) as caught:
        send(channel)
    assert caught.value.code == "20003"
    assert "Authenticate" in caught.value.reason
    assert "wrong" not in caught.value.reason


def test_bad_credentials_through_the_pipeline_pause_the_channel_and_keep_the_message(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(credentials={"account_sid": fake_twilio.account_sid, "auth_token": "wrong"})
    message = OutboundMessage.send_one(channel=channel, to=ANN, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    channel.refresh_from_db()
    assert (message.status, message.attempts) == (Status.QUEUED, 0)
    assert channel.paused_at is not None and "20003" in channel.paused_reason


def test_missing_credentials_pause_the_channel_naming_them(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(credentials={"account_sid": fake_twilio.account_sid})
    message = OutboundMessage.send_one(channel=channel, to=ANN, text="Hi")
    send_messages([message.pk])
    channel.refresh_from_db()
    assert channel.paused_reason == "Missing credentials: auth_token."
    assert fake_twilio.received == []


def test_a_wrong_api_address_is_a_channel_error(fake_twilio, make_twilio_channel):
    with pytest.raises(ChannelError, match="API base URL"):
        send(make_twilio_channel(api_base_url=fake_twilio.base_url + "/not-twilio"))


def test_a_channel_refusal_after_some_messages_went_keeps_those_and_retries_the_rest(fake_twilio, make_twilio_channel):
    """Raising would put the accepted messages back in the queue and send them twice."""
    fake_twilio.errors[BOB] = (401, 20003, "Authenticate")
    messages = [OutgoingMessage(id=1, to=ANN, text="a"), OutgoingMessage(id=2, to=BOB, text="b")]
    results = {r.message_id: r for r in provider_for(make_twilio_channel()).send_batch(messages)}
    assert results[1].outcome == Outcome.ACCEPTED
    assert (results[2].outcome, results[2].error_code) == (Outcome.RETRY, "20003")


def test_a_refused_sender_is_a_channel_error(fake_twilio, make_twilio_channel):
    fake_twilio.errors[ANN] = (400, 21606, "The 'From' phone number is not a valid, SMS-capable number")
    with pytest.raises(ChannelError, match="21606"):
        send(make_twilio_channel())


def test_a_channel_without_sender_is_a_channel_error(make_twilio_channel):
    with pytest.raises(ChannelError, match="no sender"):
        send(make_twilio_channel(sender=""))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_request_that_never_left_is_retried(make_twilio_channel):
    result = send(make_twilio_channel(api_base_url=f"http://127.0.0.1:{_closed_port()}"))
    assert (result.outcome, result.error_code) == (Outcome.RETRY, "not_sent")


def test_a_batch_that_cannot_leave_by_its_booked_time_is_not_sent(fake_twilio, make_twilio_channel):
    """A request that would leave after its time would crowd the next booking's second: it stays here."""
    provider = provider_for(make_twilio_channel())
    messages = [OutgoingMessage(id=1, to=ANN, text="a"), OutgoingMessage(id=2, to=BOB, text="b")]
    with http.leaving_by(time.monotonic() - 0.001):
        late = provider.send_batch(messages)
    assert {(r.outcome, r.error_code, r.throttled) for r in late} == {(Outcome.RETRY, "late", True)}
    assert fake_twilio.received == []
    with http.leaving_by(time.monotonic() + 5):
        assert {r.outcome for r in provider.send_batch(messages)} == {Outcome.ACCEPTED}
    assert len(fake_twilio.received) == 2


def test_a_late_batch_goes_again_in_a_moment_and_its_try_does_not_count(fake_twilio, make_twilio_channel, monkeypatch):
    monkeypatch.setattr(ratelimit, "LEAVE_WITHIN_SECONDS", -1.0)  # every batch is already late when booked
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to=ANN, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    assert (message.status, message.error_code, message.attempts) == (Status.QUEUED, "late", 0)
    # Due again in a moment (a new booking, not a backoff), not at once: a machine too busy to send
    # on time would otherwise loop on it (this send_messages would never return).
    assert timezone.now() < message.next_attempt_at <= timezone.now() + LATE_RETRY
    assert fake_twilio.received == []

    monkeypatch.setattr(ratelimit, "LEAVE_WITHIN_SECONDS", 0.04)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    send_messages([message.pk])
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)
    assert len(fake_twilio.received) == 1


def test_no_answer_leaves_the_message_unknown_and_never_resent(fake_twilio, make_twilio_channel, settings):
    settings.PROVIDER_READ_TIMEOUT = 0.2
    fake_twilio.behaviour = Behaviour(latency=0.6, callback_delay=0.05)
    channel = make_twilio_channel()
    message = OutboundMessage.send_one(channel=channel, to=ANN, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.UNKNOWN, "no_answer")
    send_messages([message.pk])
    assert len(fake_twilio.received) == 1


def test_bulk_mode_maps_each_refusal_and_a_whole_request_failure(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(options={"bulk_mode": True})
    fake_twilio.errors[BOB] = (400, 30001, "Queue overflow")
    messages = [OutgoingMessage(id=1, to=ANN, text="a"), OutgoingMessage(id=2, to=BOB, text="b")]
    results = {r.message_id: r for r in provider_for(channel).send_batch(messages)}
    assert results[1].outcome == Outcome.ACCEPTED
    assert (results[2].outcome, results[2].error_code) == (Outcome.RETRY, "30001")

    fake_twilio.behaviour = Behaviour(error_rate=1.0)  # a 500: Twilio may have acted on it first
    assert {r.outcome for r in provider_for(channel).send_batch(messages)} == {Outcome.UNKNOWN}

    wrong = make_twilio_channel(
        credentials={"account_sid": fake_twilio.account_sid, "auth_token": "wrong"}, options={"bulk_mode": True}
    )
    fake_twilio.behaviour = Behaviour()
    with pytest.raises(ChannelError, match="20003"):
        provider_for(wrong).send_batch(messages)


def test_bulk_recipients_the_answer_leaves_out_are_unknown(fake_twilio, make_twilio_channel, monkeypatch):
    """The 1:Many endpoint is a preview: whatever its answer does not account for is never resent blindly."""
    from providers.fakes.server import FakeResponse

    monkeypatch.setattr(
        fake_twilio, "create_messages_in_bulk", lambda request: FakeResponse(200, {"message_receipts": []})
    )
    channel = make_twilio_channel(options={"bulk_mode": True})
    results = provider_for(channel).send_batch([OutgoingMessage(id=1, to=ANN, text="a")])
    assert [(r.outcome, r.error_code) for r in results] == [(Outcome.UNKNOWN, "not_in_answer")]


# --- check credentials ---------------------------------------------------------------------------


def test_check_credentials_names_the_account_and_never_shows_the_token(fake_twilio, make_twilio_channel):
    answer = provider_for(make_twilio_channel()).check_credentials()
    assert fake_twilio.account_sid in answer and "active" in answer
    assert "Fake Twilio account" not in answer  # the remote body's friendly name is not echoed
    assert AUTH_TOKEN not in answer
    assert fake_twilio.received[-1].path.endswith(f"/Accounts/{fake_twilio.account_sid}.json")


def test_check_credentials_gives_twilios_reason_in_our_words_when_refused(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel(credentials={"account_sid": fake_twilio.account_sid, "auth_token": "wrong"})
    with pytest.raises(ChannelError, match=r"authentication failed: .* is wrong \(error 20003\)"):
        provider_for(channel).check_credentials()


def test_check_credentials_reports_a_suspended_account(fake_twilio, make_twilio_channel):
    fake_twilio.account_status = "suspended"
    with pytest.raises(ChannelError, match="is suspended"):
        provider_for(make_twilio_channel()).check_credentials()


def test_check_credentials_when_twilio_cannot_be_reached(make_twilio_channel):
    channel = make_twilio_channel(api_base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ChannelError, match="Could not reach Twilio"):
        provider_for(channel).check_credentials()


def test_check_credentials_names_missing_credentials(make_twilio_channel):
    with pytest.raises(ChannelError, match="account_sid"):
        provider_for(make_twilio_channel(credentials={"auth_token": "x"})).check_credentials()

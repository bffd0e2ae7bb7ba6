"""How each kind of provider answer lands on the message."""

from __future__ import annotations

import pytest
from django.test import override_settings

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from contacts.models import Contact
from providers.base import ChannelError, Outcome
from providers.models import Channel
from tests.scripted_provider import ScriptedProvider

Status = OutboundMessage.Status
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("scripted")]


@pytest.fixture
def scripted_channel():
    return Channel.objects.create(name="Scripted", provider="scripted", credentials={"token": "t"}, rate_limit=1000)


def send(channel, to="+447911123456"):
    message = OutboundMessage.send_one(channel=channel, to=to, text="Hi")
    send_messages([message.pk])
    message.refresh_from_db()
    return message


def test_a_permanent_failure_is_recorded_with_its_code_and_not_retried(scripted, scripted_channel):
    scripted.answers.append({"outcome": Outcome.FAILED, "error_code": "21211", "error_message": "Invalid To"})
    message = send(scripted_channel)
    assert (message.status, message.error_code, message.error_message) == (Status.FAILED, "21211", "Invalid To")
    assert message.next_attempt_at is None


def test_a_transient_failure_waits_and_is_retried(scripted, scripted_channel):
    scripted.answers.append({"outcome": Outcome.RETRY, "error_code": "20429", "retry_after": 30})
    message = send(scripted_channel)
    assert message.status == Status.QUEUED
    assert (message.next_attempt_at - message.updated_at).total_seconds() >= 29


@override_settings(SEND_MAX_ATTEMPTS=2)
def test_retries_stop_after_the_configured_attempts(scripted, scripted_channel):
    scripted.answers.extend([{"outcome": Outcome.RETRY, "error_message": "busy"}] * 2)
    message = send(scripted_channel)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
    send_messages([message.pk])
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.attempts == 2
    assert "Gave up after 2 attempts" in message.error_message


def test_an_unknown_outcome_is_never_resent_silently(scripted, scripted_channel):
    scripted.answers.append(Outcome.UNKNOWN)
    message = send(scripted_channel)
    assert message.status == Status.UNKNOWN
    send_messages([message.pk])
    assert len(scripted.sent) == 1


def test_an_unexpected_provider_error_makes_the_batch_unknown(scripted, scripted_channel):
    scripted.answers.append(RuntimeError("boom"))
    message = send(scripted_channel)
    assert message.status == Status.UNKNOWN
    assert "RuntimeError" in message.error_message


def test_a_channel_error_pauses_the_channel_and_keeps_the_message(scripted, scripted_channel):
    scripted.answers.append(ChannelError("Authentication failed (20003).", code="20003"))
    message = send(scripted_channel)
    scripted_channel.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.attempts == 0
    assert scripted_channel.paused_at is not None
    assert "20003" in scripted_channel.paused_reason


def test_missing_credentials_pause_the_channel_naming_what_is_missing(scripted, scripted_channel):
    scripted_channel.credentials = {}
    scripted_channel.save()
    message = send(scripted_channel)
    scripted_channel.refresh_from_db()
    assert message.status == Status.QUEUED
    assert scripted_channel.paused_reason == "Missing credentials: token."
    assert scripted.sent == []


def test_a_provider_report_of_unsubscribed_opts_the_contact_out(scripted, scripted_channel):
    scripted.answers.append({"outcome": Outcome.FAILED, "error_code": "21610", "opted_out": True})
    message = send(scripted_channel, to="+447911123555")
    assert message.status == Status.FAILED
    assert Contact.objects.get(phone="+447911123555").is_opted_out


def test_media_on_a_channel_that_cannot_carry_it_is_refused_before_sending(scripted, scripted_channel, monkeypatch):
    monkeypatch.setattr(ScriptedProvider, "supports_media", False)
    message = OutboundMessage.send_one(
        channel=scripted_channel, to="+447911123456", media_urls=["https://x.test/a.png"]
    )
    send_messages([message.pk])
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "cannot send media" in message.error_message
    assert scripted.sent == []


@override_settings(SEND_RETRY_BASE_SECONDS=30)
def test_retry_delays_grow_but_never_past_ten_minutes():
    from campaigns.pipeline.sending import retry_delay

    assert retry_delay(None, 1).total_seconds() <= 30
    late = [retry_delay(None, attempts).total_seconds() for attempts in range(6, 30)]
    assert all(300 <= delay <= 600 for delay in late)
    assert retry_delay(900.0, 8).total_seconds() == 900.0  # but a provider's Retry-After is honoured

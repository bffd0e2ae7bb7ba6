"""A campaign's lifecycle: allowed and refused transitions, the late-start guard, pause and resume
exactness through a real worker against the loopback Twilio fake, duplicate and archive."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline import lifecycle, sending
from campaigns.pipeline.fanout import fan_out, start_due_campaigns
from campaigns.pipeline.jobs import reconcile
from providers.twilio.provider import TwilioSmsProvider
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)
Status = Campaign.Status
Message = OutboundMessage.Status
NUMBERS = [f"+4479111234{n:02d}" for n in range(30)]


@pytest.fixture
def customers(make_contact, make_list):
    return make_list("Customers", [make_contact(phone, f"Person {n}") for n, phone in enumerate(NUMBERS)])


@pytest.fixture
def draft(channel, customers) -> Campaign:
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi {{ first_name }}")
    campaign.lists.set([customers])
    return campaign


def reloaded(campaign: Campaign) -> Campaign:
    return Campaign.objects.get(pk=campaign.pk)


# --- transitions -----------------------------------------------------------------------------


def test_only_the_sensible_transitions_happen(draft):
    assert not draft.pause("x") and not draft.resume() and not draft.reschedule(None)
    assert not lifecycle.archive(draft)
    assert lifecycle.verbs_for(draft) == ("launch", "schedule", "duplicate", "cancel")

    assert draft.launch(at=timezone.now() + timedelta(hours=2))
    assert reloaded(draft).status == Status.SCHEDULED
    assert not draft.launch()  # only a draft launches
    assert not draft.pause("x") and not draft.resume()
    assert draft.reschedule(timezone.now() + timedelta(hours=3))
    assert lifecycle.verbs_for(reloaded(draft)) == ("launch", "reschedule", "duplicate", "cancel")

    assert draft.reschedule(None)  # launch now
    fan_out(draft.pk)
    assert reloaded(draft).status == Status.RUNNING
    assert not draft.reschedule(timezone.now() + timedelta(hours=1))  # too late: it started
    assert not draft.resume()
    assert draft.pause("Paused by staff") and not draft.pause("again")
    assert lifecycle.verbs_for(reloaded(draft)) == ("resume", "duplicate", "cancel")
    assert draft.cancel("Wrong offer")
    assert not draft.cancel("again") and not draft.resume() and not draft.launch()
    assert set(draft.messages.values_list("status", flat=True)) == {Message.CANCELLED}

    assert lifecycle.archive(draft) and not lifecycle.archive(draft)
    assert lifecycle.verbs_for(reloaded(draft)) == ("duplicate",)


def test_a_duplicate_is_a_new_draft_with_the_same_content_and_audience(draft, make_list, admin_user):
    suppressed = make_list("Complained", [])
    draft.exclude_lists.set([suppressed])
    Campaign.objects.filter(pk=draft.pk).update(
        window_start="09:00", window_end="20:00", max_lateness=timedelta(hours=1)
    )
    draft.launch()
    fan_out(draft.pk)

    copy = lifecycle.duplicate(reloaded(draft), admin_user)

    assert (copy.name, copy.status, copy.scheduled_at, copy.messages.count()) == (
        "Copy of Spring sale",
        Status.DRAFT,
        None,
        0,
    )
    assert (copy.text, copy.channel_id, copy.max_lateness) == (draft.text, draft.channel_id, timedelta(hours=1))
    assert list(copy.lists.all()) == list(draft.lists.all())
    assert list(copy.exclude_lists.all()) == [suppressed]
    assert copy.sender_label == admin_user.get_username()


# --- the late-start guard --------------------------------------------------------------------


def test_a_campaign_later_than_its_guard_waits_for_a_person(draft, worker):
    due = timezone.now() + timedelta(seconds=1)
    draft.launch(at=due)
    Campaign.objects.filter(pk=draft.pk).update(
        max_lateness=timedelta(minutes=30),
        scheduled_at=timezone.now() - timedelta(hours=3),  # as after downtime
    )
    scheduled_at = reloaded(draft).scheduled_at

    start_due_campaigns()
    assert fan_out(draft.pk) == 0  # the job RQ held for its time fires late: refused too
    worker()

    held = reloaded(draft)
    assert (held.status, held.scheduled_at, held.messages.count()) == (Status.SCHEDULED, scheduled_at, 0)
    assert held.status_reason.startswith("Waiting for you: it could not start within 30 minutes")

    assert held.reschedule(None)  # a person launches it now
    worker()
    assert reloaded(draft).status == Status.COMPLETED
    assert draft.messages.filter(status=Message.SENT).count() == len(NUMBERS)


def test_a_campaign_within_its_guard_starts_late_on_its_own(draft, worker):
    draft.launch(at=timezone.now() + timedelta(hours=1))
    Campaign.objects.filter(pk=draft.pk).update(
        max_lateness=timedelta(hours=1),
        scheduled_at=timezone.now() - timedelta(minutes=10),
        updated_at=timezone.now() - timedelta(hours=2),  # its RQ job was lost in the downtime
    )
    assert start_due_campaigns() == 1
    worker()
    assert reloaded(draft).status == Status.COMPLETED


# --- pause and resume: exactly once at the provider ------------------------------------------


def pause_after(monkeypatch, campaign: Campaign, messages: int) -> None:
    """Pause the campaign (as a staff member would, from another request) once the fake has this many."""
    original = TwilioSmsProvider.send_batch
    sent = []

    def send_then_maybe_pause(self, batch):
        results = original(self, batch)
        sent.extend(batch)
        if len(sent) >= messages:
            Campaign.objects.get(pk=campaign.pk).pause("Paused by staff")
        return results

    monkeypatch.setattr(TwilioSmsProvider, "send_batch", send_then_maybe_pause)
    monkeypatch.setattr(sending, "STOP_CHECK_SECONDS", 0.0)


def numbers_received(fake) -> list[str]:
    return sorted(request.form["To"][0] for request in fake.received)


def test_pause_midway_then_resume_sends_every_recipient_exactly_once(
    fake_twilio, make_twilio_channel, customers, worker, monkeypatch
):
    channel = make_twilio_channel(rate_limit=5)  # claims of many messages, sent a few per batch
    campaign = Campaign.objects.create(name="Flash sale", channel=channel, text="Hi {{ first_name }}")
    campaign.lists.set([customers])
    pause_after(monkeypatch, campaign, messages=10)
    assert campaign.launch()
    worker()

    paused = reloaded(campaign)
    assert paused.status == Status.PAUSED
    assert len(fake_twilio.received) == 10
    counts = dict(paused.messages.values_list("status").annotate(n=Count("id")))
    assert counts == {Message.SENT: 10, Message.QUEUED: len(NUMBERS) - 10}  # released, not lost, not sent
    assert not paused.messages.filter(claim_token__isnull=False).exists()

    monkeypatch.undo()
    django_rq.get_connection("default").flushdb()  # a worker and Redis restart lose every job
    assert campaign.resume()
    worker()

    assert reloaded(campaign).status == Status.COMPLETED
    assert numbers_received(fake_twilio) == NUMBERS  # every recipient once: no duplicate, no gap
    assert campaign.messages.filter(status=Message.SENT).count() == len(NUMBERS)


def test_a_running_campaign_survives_a_restart_without_duplicates(
    fake_twilio, make_twilio_channel, customers, worker, monkeypatch, settings
):
    channel = make_twilio_channel(rate_limit=5)
    campaign = Campaign.objects.create(name="Restart", channel=channel, text="Hi")
    campaign.lists.set([customers])
    pause_after(monkeypatch, campaign, messages=12)
    campaign.launch()
    worker()
    monkeypatch.undo()
    # The server restarts: Redis is empty; a person resumes; meanwhile the reconciler runs too.
    django_rq.get_connection("default").flushdb()
    campaign.resume()
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    reconcile()
    worker()
    assert numbers_received(fake_twilio) == NUMBERS
    assert reloaded(campaign).status == Status.COMPLETED


def test_cancel_during_a_claim_cancels_what_had_not_gone(draft, monkeypatch, worker):
    draft.launch()
    fan_out(draft.pk)
    token = sending.claim(OutboundMessage.objects.filter(campaign=draft), limit=100)
    draft.cancel("Wrong list")
    monkeypatch.setattr(sending, "STOP_CHECK_SECONDS", 0.0)
    sending.send_claimed(token, sending.SendSummary())
    assert set(draft.messages.values_list("status", flat=True)) == {Message.CANCELLED}
    assert not draft.messages.filter(claim_token__isnull=False).exists()


def test_cancel_midway_leaves_nothing_queued_and_sends_nothing_more(
    fake_twilio, make_twilio_channel, customers, worker, monkeypatch
):
    """Staff cancel while a batch is with the provider, and the provider answers it "try again"
    (a 500): that batch finishes, but its rows may not go back to a queue no job of a cancelled
    campaign reads (queued for ever), nor be sent later."""
    channel = make_twilio_channel(rate_limit=5)  # a few messages a batch: a cancel lands mid-run
    campaign = Campaign.objects.create(name="Wrong offer", channel=channel, text="Hi {{ first_name }}")
    campaign.lists.set([customers])
    original = TwilioSmsProvider.send_batch
    sent: list = []

    def send_cancelling_midway(self, batch):
        if len(sent) >= 10 and reloaded(campaign).status == Status.RUNNING:
            # This batch is already handed over when staff press cancel; the provider then fails it.
            assert Campaign.objects.get(pk=campaign.pk).cancel("Wrong offer")
            fake_twilio.behaviour.error_rate = 1.0
        sent.extend(batch)
        return original(self, batch)

    monkeypatch.setattr(TwilioSmsProvider, "send_batch", send_cancelling_midway)
    monkeypatch.setattr(sending, "STOP_CHECK_SECONDS", 0.0)
    assert campaign.launch()
    worker()
    requests_by_cancel = len(fake_twilio.received)
    assert not campaign.messages.filter(status=Message.QUEUED).exists()  # at once, not by the reconciler

    reconcile()  # the safety net runs, and any job it asks for
    worker()

    assert len(fake_twilio.received) == requests_by_cancel  # nothing more left after the cancel
    assert requests_by_cancel < len(NUMBERS)
    counts = dict(campaign.messages.values_list("status").annotate(n=Count("id")))
    # Sent before the cancel (a batch still out when the fake turned to 500s ends cancelled too).
    assert set(counts) == {Message.SENT, Message.CANCELLED} and 5 <= counts[Message.SENT] <= 10, counts
    assert not campaign.messages.filter(claim_token__isnull=False).exists()
    assert reloaded(campaign).status == Status.CANCELLED


def test_the_reconciler_cancels_what_a_cancelled_campaign_left_waiting(draft, worker):
    """A row put back in the queue by a write that raced the cancel (or by a dead worker's claim
    expiring) is cancelled on the next tick, not left queued for ever."""
    draft.launch()
    fan_out(draft.pk)
    assert draft.cancel("Wrong list")
    left = draft.messages.order_by("id")[:2]
    OutboundMessage.objects.filter(pk__in=[m.pk for m in left]).update(status=Message.QUEUED)

    assert reconcile()["cancelled_left_behind"] == 2
    worker()
    assert set(draft.messages.values_list("status", flat=True)) == {Message.CANCELLED}
    assert reconcile()["cancelled_left_behind"] == 0

"""Sending hours: a campaign message goes only while its window is open in the recipient's local
time; the others wait as scheduled for their window's opening, block no one, and go when it opens
(a real worker, SQLite and PostgreSQL)."""

from __future__ import annotations

import time as clock
import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage, StaffProfile
from campaigns.pipeline import sending, sending_hours
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.jobs import reconcile
from campaigns.reports import progress

Message = OutboundMessage.Status
LONDON, TOKYO = "+447911123456", "+819012345678"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- whose zone, and when a window is open ---------------------------------------------------------


def test_a_number_is_placed_in_its_zone_by_its_prefix():
    assert sending_hours.zones_for("+14155550123") == ("America/Los_Angeles",)
    assert sending_hours.zones_for("+12125550123") == ("America/New_York",)
    assert sending_hours.zones_for("+254712345678") == ("Africa/Nairobi",)
    assert "Europe/London" in sending_hours.zones_for(LONDON)
    assert sending_hours.zones_for("+80012345678") == ()  # international freephone: nobody knows


def test_zones_are_looked_up_once_per_prefix_not_per_message(monkeypatch):
    asked = []
    original = sending_hours._zones_from_phonenumbers
    monkeypatch.setattr(sending_hours, "_zones_by_prefix", {})
    monkeypatch.setattr(sending_hours, "_zones_from_phonenumbers", lambda phone: asked.append(phone) or original(phone))

    kenya = {sending_hours.zones_for(f"+2547{n:08d}") for n in range(1000)}
    san_francisco = {sending_hours.zones_for(f"+1415555{n:04d}") for n in range(1000)}

    assert kenya == {("Africa/Nairobi",)} and san_francisco == {("America/Los_Angeles",)}
    assert len(asked) == 2  # one per country with one zone, one per North American exchange


def test_the_window_is_open_from_its_start_until_its_end_in_local_time():
    hours = sending_hours.SendingHours(time(9), time(20))
    london = ("Europe/London",)
    assert hours.opens_at(london, at("2026-01-15T08:59:59")) == at("2026-01-15T09:00")
    assert hours.opens_at(london, at("2026-01-15T09:00")) is None
    assert hours.opens_at(london, at("2026-01-15T19:59")) is None
    assert hours.opens_at(london, at("2026-01-15T20:00")) == at("2026-01-16T09:00")
    # British Summer Time: 09:00 in London is 08:00 UTC.
    assert hours.opens_at(london, at("2026-07-15T07:30")) == at("2026-07-15T08:00")
    assert hours.answer(london, at("2026-07-15T12:00")).until == at("2026-07-15T19:00")


def test_a_window_may_cross_midnight():
    hours = sending_hours.SendingHours(time(22), time(6))
    nairobi = ("Africa/Nairobi",)  # UTC+3
    assert hours.opens_at(nairobi, at("2026-03-02T20:00")) is None  # 23:00 there
    assert hours.opens_at(nairobi, at("2026-03-03T02:59")) is None  # 05:59 the next morning
    assert hours.opens_at(nairobi, at("2026-03-03T03:00")) == at("2026-03-03T19:00")  # 06:00: shut until 22:00
    assert hours.answer(nairobi, at("2026-03-02T20:00")).until == at("2026-03-03T03:00")


def test_a_number_in_several_zones_goes_when_the_window_is_open_in_all_of_them():
    hours = sending_hours.SendingHours(time(9), time(20))
    mobile = sending_hours.zones_for("+61412345678")  # an Australian mobile: Perth to Lord Howe, and islands
    assert len(mobile) > 1
    # 23:00 UTC on 1 Dec: 10:00 in Sydney, 07:00 in Perth, 05:30 on the Cocos Islands (UTC+06:30).
    assert hours.opens_at(mobile, at("2026-12-01T23:00")) == at("2026-12-02T02:30")  # 09:00 on Cocos
    # Open until Lord Howe Island (UTC+11 in summer) reaches 20:00.
    assert hours.answer(mobile, at("2026-12-02T03:00")) == sending_hours.Answer(
        True, at("2026-12-02T09:00"), at("2026-12-02T03:00")
    )


def test_zones_that_share_no_open_hour_go_by_the_middle_one():
    hours = sending_hours.SendingHours(time(9), time(17))
    mobile = sending_hours.zones_for("+79161234567")  # a Russian mobile: Kaliningrad-ish to Kamchatka
    offsets = sorted(at("2026-02-01T00:00").astimezone(zoneinfo.ZoneInfo(name)).utcoffset() for name in mobile)
    assert offsets[-1] - offsets[0] > timedelta(hours=8)  # wider than the window: never open in all
    # The middle zone is UTC+7 (Novosibirsk): 09:00 there is 02:00 UTC.
    assert hours.opens_at(mobile, at("2026-02-01T00:00")) == at("2026-02-01T02:00")
    assert hours.opens_at(mobile, at("2026-02-01T05:00")) is None


def test_answers_are_kept_only_while_they_hold():
    hours = sending_hours.SendingHours(time(9), time(20))
    london = ("Europe/London",)
    assert hours.opens_at(london, at("2026-01-15T12:00")) is None
    assert hours.opens_at(london, at("2026-01-15T06:00")) == at("2026-01-15T09:00")  # an earlier clock: asked anew
    assert hours.opens_at(london, at("2026-01-15T21:00")) == at("2026-01-16T09:00")


# --- the pipeline ----------------------------------------------------------------------------------


def window_closed_in_tokyo_only(opens_in: timedelta) -> tuple[time, time]:
    """Sending hours that open in Tokyo after ``opens_in`` and are open in London now: shut from a
    minute ago in Tokyo until then (London is 8 or 9 hours behind, well inside the open part)."""
    tokyo_now = timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).replace(microsecond=0)
    return (tokyo_now + opens_in).time(), (tokyo_now - timedelta(minutes=1)).time()


@pytest.fixture
def two_zone_campaign(channel, make_contact, make_list):
    def make(opens_in: timedelta) -> Campaign:
        customers = make_list("Customers", [make_contact(LONDON, "Ann"), make_contact(TOKYO, "Kenji")])
        start, end = window_closed_in_tokyo_only(opens_in)
        campaign = Campaign.objects.create(
            name="Night owls", channel=channel, text="Hi {{ first_name }}", window_start=start, window_end=end
        )
        campaign.lists.set([customers])
        return campaign

    return make


def message_to(campaign: Campaign, phone: str) -> OutboundMessage:
    return campaign.messages.get(to=phone)


@pytest.mark.django_db
def test_a_message_outside_its_hours_waits_for_them_and_the_others_go(two_zone_campaign):
    campaign = two_zone_campaign(timedelta(hours=2))
    campaign.launch()
    fan_out(campaign.pk)
    token = sending.claim(campaign.messages.all(), limit=10)
    summary = sending.SendSummary()

    sending.send_claimed(token, summary)

    london, tokyo = message_to(campaign, LONDON), message_to(campaign, TOKYO)
    assert london.status == Message.SENT
    assert (tokyo.status, tokyo.claim_token, tokyo.attempts) == (Message.SCHEDULED, None, 0)
    expected = datetime.combine(
        timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).date(),
        campaign.window_start,
        zoneinfo.ZoneInfo("Asia/Tokyo"),
    )
    if expected < timezone.now():
        expected += timedelta(days=1)
    assert tokyo.send_at == expected
    assert summary.counts["waiting_for_sending_hours"] == 1 and summary.waiting_until == tokyo.send_at
    assert sending.claim(campaign.messages.all(), limit=10) is None  # it is out of the queue: nothing to loop over


@pytest.mark.django_db
def test_parking_costs_one_statement_per_opening_and_no_lookup_per_message(channel, monkeypatch):
    campaign = Campaign.objects.create(
        name="Evenings", channel=channel, text="Hi", window_start=time(18), window_end=time(18, 1), status="running"
    )
    numbers = [f"+2547{n:08d}" for n in range(300)] + [f"+1212555{n:04d}" for n in range(300)]
    OutboundMessage.objects.bulk_create(
        OutboundMessage(campaign=campaign, channel=channel, to=to, recipient_key=to) for to in numbers
    )
    monkeypatch.setattr(sending_hours, "_zones_by_prefix", {})
    token = sending.claim(campaign.messages.all(), limit=1000)
    messages = sending.claimed_messages(token)
    hours = sending_hours.hours(time(18), time(18, 1))
    open_now = [hours.opens_at(zones, timezone.now()) is None for zones in (("Africa/Nairobi",), ("America/New_York",))]
    if any(open_now):
        pytest.skip("it is 18:00 in Nairobi or New York right now")

    with CaptureQueriesContext(connection) as queries:
        ready = sending.hold_outside_hours(messages, token, sending.SendSummary())

    assert ready == []
    assert len(queries) == 2  # one UPDATE per distinct opening: Nairobi's and New York's
    assert campaign.messages.filter(status=Message.SCHEDULED).count() == 600
    assert len(sending_hours._zones_by_prefix) == 2


@pytest.mark.django_db
def test_a_number_nobody_can_place_goes_by_its_campaign_creators_zone(channel):
    creator = get_user_model().objects.create_user("maria", is_staff=True)
    StaffProfile.objects.create(user=creator, time_zone="Asia/Tokyo")
    tokyo_now = timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    opens = (tokyo_now + timedelta(hours=3)).replace(microsecond=0)
    campaign = Campaign.objects.create(
        name="Freephone", channel=channel, text="Hi", created_by=creator, status="running",
        window_start=opens.time(), window_end=(opens + timedelta(hours=1)).time(),
    )  # fmt: skip
    message = OutboundMessage.objects.create(campaign=campaign, channel=channel, to="+80012345678", recipient_key="x")
    token = sending.claim(campaign.messages.all(), limit=10)

    assert sending.hold_outside_hours(sending.claimed_messages(token), token, sending.SendSummary()) == []
    message.refresh_from_db()
    assert message.send_at == opens


@pytest.mark.django_db
def test_a_message_a_person_resends_after_the_campaign_finished_goes_at_once(two_zone_campaign):
    campaign = two_zone_campaign(timedelta(hours=2))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    message = OutboundMessage.objects.create(campaign=campaign, channel=campaign.channel, to=TOKYO, recipient_key=TOKYO)

    summary = sending.send_messages([message.pk])  # as the unknown outcomes page's "resend" does

    message.refresh_from_db()
    assert message.status == Message.SENT and not summary.waiting_campaigns  # no dispatch job would release it


# --- a real worker, the lifecycle and the progress page -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_each_recipient_when_their_hours_open(two_zone_campaign, worker, admin_client):
    campaign = two_zone_campaign(timedelta(seconds=8))
    campaign.launch()
    started = clock.monotonic()

    worker()

    assert clock.monotonic() - started < 7, "the first run took too long for this test's window"
    london, tokyo = message_to(campaign, LONDON), message_to(campaign, TOKYO)
    assert london.status in (Message.SENT, Message.DELIVERED) and london.body == "Hi Ann"
    assert tokyo.status == Message.SCHEDULED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # waiting messages keep it running, not completed
    data = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()
    assert (data["waiting"], data["parts"]["waiting"], data["parts"]["queued"]) == (1, 1, 0)
    assert data["waiting_opens_at"] == tokyo.send_at.isoformat()
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "waiting for their sending hours" in page
    assert ("the next morning" in page) == (campaign.window_end <= campaign.window_start)  # across midnight
    log = admin_client.get(f"/admin/campaigns/outboundmessage/?campaign__id__exact={campaign.pk}").content.decode()
    assert log.count("Waiting for sending hours") == 1

    clock.sleep(max(0.0, (tokyo.send_at - timezone.now()).total_seconds()) + 0.5)
    worker()  # RQ's scheduler hands over the dispatch job held for the opening

    tokyo.refresh_from_db()
    assert tokyo.status in (Message.SENT, Message.DELIVERED) and tokyo.sent_at >= tokyo.send_at
    assert tokyo.body == "Hi Kenji"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_paused_campaigns_waiting_messages_wait_for_resume_and_cancel_cancels_them(two_zone_campaign, worker):
    campaign = two_zone_campaign(timedelta(seconds=4))
    campaign.launch()
    worker()
    tokyo = message_to(campaign, TOKYO)
    assert tokyo.status == Message.SCHEDULED
    assert campaign.pause("lunch")

    clock.sleep(max(0.0, (tokyo.send_at - timezone.now()).total_seconds()) + 0.5)
    worker()
    reconcile()
    worker()
    assert message_to(campaign, TOKYO).status == Message.SCHEDULED  # its hours opened, but the campaign is paused

    assert campaign.resume()
    worker()
    assert message_to(campaign, TOKYO).status in (Message.SENT, Message.DELIVERED)


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_campaign_cancels_its_waiting_messages(two_zone_campaign, worker):
    campaign = two_zone_campaign(timedelta(hours=2))
    campaign.launch()
    worker()
    assert message_to(campaign, TOKYO).status == Message.SCHEDULED

    assert campaign.cancel("changed our mind")

    assert message_to(campaign, TOKYO).status == Message.CANCELLED
    assert sending.next_opening(campaign.pk) is None


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_wakes_a_campaign_whose_wake_up_job_redis_lost(two_zone_campaign, worker, settings):
    import django_rq

    settings.QUEUED_STALE_SECONDS = 0
    campaign = two_zone_campaign(timedelta(seconds=3))
    campaign.launch()
    worker()
    tokyo = message_to(campaign, TOKYO)
    django_rq.get_connection("default").flushdb()  # the job held for the opening is gone

    clock.sleep(max(0.0, (tokyo.send_at - timezone.now()).total_seconds()) + 0.5)
    assert reconcile()["campaigns_resumed"] == 1
    worker()

    assert message_to(campaign, TOKYO).status in (Message.SENT, Message.DELIVERED)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_waiting_messages_count_as_still_to_go():
    parts = progress.bar({"scheduled": 3, "queued": 2, "sent": 5})
    assert (parts["waiting"], parts["queued"], progress.undone(parts)) == (3, 2, 5)

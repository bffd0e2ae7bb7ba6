"""The campaign calendar's feed and its reschedule endpoint (the page itself: tests/test_staff_calendar.py)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign

Status = Campaign.Status
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
FEED = "/admin/campaigns/campaign/calendar/feed/"
PAGE = "/admin/campaigns/campaign/calendar/"
pytestmark = pytest.mark.django_db


def reschedule_url(campaign: Campaign) -> str:
    return f"/admin/campaigns/campaign/calendar/{campaign.pk}/reschedule/"


@pytest.fixture
def staff(client, nairobi_staff):
    client.force_login(nairobi_staff)
    return client


@pytest.fixture
def make_campaign(channel):
    def make(name: str, at: datetime, status: str = Status.SCHEDULED, **fields) -> Campaign:
        return Campaign.objects.create(name=name, channel=channel, status=status, scheduled_at=at, **fields)

    return make


def nairobi(day_offset: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.now().astimezone(NAIROBI).date() + timedelta(days=day_offset)
    return datetime.combine(day, time(hour, minute), tzinfo=NAIROBI)


def feed(client, start: datetime, end: datetime, **params) -> list[dict]:
    query = {"start": start.strftime("%Y-%m-%dT%H:%M:%S"), "end": end.strftime("%Y-%m-%dT%H:%M:%S"), **params}
    response = client.get(FEED, query)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_feed_gives_campaigns_and_bulk_jobs_on_their_local_send_dates(staff, make_campaign):
    late_evening = make_campaign("Late launch", nairobi(3, 1, 30))  # 22:30 UTC the day before
    running = make_campaign("Running now", nairobi(0, 8), Status.RUNNING)
    api_job = make_campaign("Orders", nairobi(4, 10), kind=Campaign.Kind.BULK_API)
    make_campaign("Far away", nairobi(90, 9))
    events = feed(staff, nairobi(-1, 0), nairobi(20, 0))

    by_id = {event["extendedProps"]["campaignId"]: event for event in events}
    assert set(by_id) == {late_evening.pk, running.pk, api_job.pk}
    assert by_id[late_evening.pk]["start"] == nairobi(3, 1, 30).strftime("%Y-%m-%dT01:30:00")
    assert by_id[late_evening.pk]["editable"] is True
    assert by_id[running.pk]["editable"] is False and "campaign-running" in by_id[running.pk]["classNames"]
    assert by_id[api_job.pk]["title"] == "API: Orders"
    assert by_id[api_job.pk]["url"] == f"/admin/campaigns/bulkjob/{api_job.pk}/change/"
    assert by_id[late_evening.pk]["url"] == f"/admin/campaigns/campaign/{late_evening.pk}/change/"


def test_the_feed_reads_a_range_without_offset_in_the_staff_zone(staff, make_campaign):
    just_after_midnight = make_campaign("Early bird", nairobi(2, 0, 30))  # 21:30 UTC the day before
    inside = feed(staff, nairobi(2, 0), nairobi(3, 0))
    assert [event["id"] for event in inside] == [str(just_after_midnight.pk)]
    assert feed(staff, nairobi(1, 0), nairobi(2, 0)) == []


def test_a_campaign_waiting_for_a_person_has_its_own_colour(staff, make_campaign):
    held = make_campaign("Held", nairobi(1, 9), status_reason="Waiting for you: it would have started 3 hours late.")
    [event] = feed(staff, nairobi(0, 0), nairobi(5, 0))
    assert event["extendedProps"]["campaignId"] == held.pk and "campaign-waiting" in event["classNames"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "start: required"),
        ({"start": "soon", "end": "2026-12-01"}, "start: 'soon' is not a date"),
        ({"start": "2026-12-01", "end": "2026-11-01"}, "end: '2026-11-01' is not after start '2026-12-01'"),
        ({"start": "2026-01-01", "end": "2026-12-01"}, "end: '2026-12-01' is more than 62 days after start"),
    ],
)
def test_a_bad_feed_range_is_refused_naming_the_field_and_value(staff, params, error):
    response = staff.get(FEED, params)
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_moving_a_campaign_keeps_its_time_of_day_in_the_staff_zone(staff, make_campaign):
    campaign = make_campaign("Black Friday", nairobi(3, 9, 15))
    new_day = nairobi(10, 0).date()
    response = staff.post(reschedule_url(campaign), {"date": new_day.isoformat()})
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert campaign.scheduled_at == datetime.combine(new_day, time(9, 15), tzinfo=NAIROBI)
    assert campaign.status == Status.SCHEDULED
    assert "09:15 Africa/Nairobi (EAT, UTC+03:00)" in response.json()["message"]


def test_a_started_campaign_is_not_moved_and_the_answer_says_why(staff, make_campaign):
    running = make_campaign("Already going", nairobi(1, 9), Status.RUNNING)
    fanned_out = make_campaign("Just started", nairobi(1, 9), fanned_out_at=timezone.now())
    for campaign in (running, fanned_out):
        response = staff.post(reschedule_url(campaign), {"date": nairobi(5, 0).date().isoformat()})
        assert response.status_code == 409
        assert "can no longer be moved" in response.json()["error"]
        campaign.refresh_from_db()
        assert campaign.scheduled_at == nairobi(1, 9)


@pytest.mark.parametrize(
    ("date", "error"),
    [("3rd of May", "date: '3rd of May' is not a date such as 2026-12-03."), ("2026-02-30", "date: '2026-02-30'")],
)
def test_a_bad_day_is_refused_naming_it(staff, make_campaign, date, error):
    campaign = make_campaign("Sale", nairobi(3, 9))
    response = staff.post(reschedule_url(campaign), {"date": date})
    assert response.status_code == 400 and error in response.json()["error"]


def test_a_day_that_has_passed_is_refused(staff, make_campaign):
    campaign = make_campaign("Sale", nairobi(3, 9))
    response = staff.post(reschedule_url(campaign), {"date": nairobi(-1, 0).date().isoformat()})
    assert response.status_code == 400 and "has passed" in response.json()["error"]
    campaign.refresh_from_db()
    assert campaign.scheduled_at == nairobi(3, 9)


def test_rescheduling_needs_the_csrf_token(nairobi_staff, make_campaign):
    campaign = make_campaign("Sale", nairobi(3, 9))
    client = Client(enforce_csrf_checks=True)
    client.force_login(nairobi_staff)
    response = client.post(reschedule_url(campaign), {"date": nairobi(5, 0).date().isoformat()})
    assert response.status_code == 403
    client.get(PAGE)  # the page sets the cookie the script sends back
    token = client.cookies["csrftoken"].value
    response = client.post(reschedule_url(campaign), {"date": nairobi(5, 0).date().isoformat()}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_the_calendar_is_staff_only_and_moving_needs_the_change_permission(client, make_campaign):
    campaign = make_campaign("Sale", nairobi(3, 9))
    day = {"date": nairobi(5, 0).date().isoformat()}
    assert client.get(FEED, {"start": "2026-12-01", "end": "2026-12-31"}).status_code == 302
    assert client.post(reschedule_url(campaign), day).status_code == 302
    viewer = get_user_model().objects.create_user("vic", "vic@example.com", "pw-for-tests-only", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)
    assert client.get(PAGE).status_code == 200
    assert client.post(reschedule_url(campaign), day).status_code == 403
    campaign.refresh_from_db()
    assert campaign.scheduled_at == nairobi(3, 9)
    [event] = client.get(FEED, {"start": nairobi(0, 0).date(), "end": nairobi(10, 0).date()}).json()
    assert event["editable"] is False


def test_the_page_names_the_zone_and_takes_a_month(staff):
    page = staff.get(PAGE, {"month": "2026-12"})
    assert page.context["calendar_config"]["initialDate"] == "2026-12-01"
    assert page.context["calendar_config"]["timeZone"] == "Africa/Nairobi"
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page.content.decode()
    wrong = staff.get(PAGE, {"month": "2026-13"})
    assert "month: &#x27;2026-13&#x27; is not a month such as" in wrong.content.decode()


def test_the_campaign_list_links_to_the_calendar(staff):
    assert 'href="/admin/campaigns/campaign/calendar/"' in staff.get("/admin/campaigns/campaign/").content.decode()


def test_a_marketing_person_plans_and_moves_campaigns_and_sets_their_zone(client, make_campaign, marketing_staff):
    client.force_login(marketing_staff)
    assert client.post("/admin/time-zone/", {"time_zone": "Africa/Nairobi"}).status_code == 302
    campaign = make_campaign("Sale", nairobi(3, 9))
    page = client.get(PAGE)
    assert page.context["calendar_config"]["addUrl"] == "/admin/campaigns/campaign/add/"
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page.content.decode()
    response = client.post(reschedule_url(campaign), {"date": nairobi(6, 0).date().isoformat()})
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.scheduled_at == nairobi(6, 9)
    assert client.get("/admin/").status_code == 200

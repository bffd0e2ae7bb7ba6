"""Each staff member sees and enters every admin date in their own time zone, named beside it."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import OutboundMessage, StaffProfile

Status = OutboundMessage.Status
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
ADD_URL = "/admin/campaigns/outboundmessage/add/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def user(db):
    return get_user_model().objects.create_superuser("amina", "amina@example.com", "pw-for-tests-only")


@pytest.fixture
def nairobi_staff(client, user):
    StaffProfile.objects.create(user=user, time_zone="Africa/Nairobi")
    client.force_login(user)
    return client


def a_day_ahead(days: int = 10) -> str:
    return (timezone.now().astimezone(NAIROBI) + timedelta(days=days)).strftime("%Y-%m-%d")


def rendered_values(page: str) -> dict[str, str]:
    """What the browser would post back untouched: text inputs' values and the checked radio."""
    values = dict(re.findall(r'name="(send_at_\d)" value="([^"]*)"', page))
    values["when"] = re.search(r'name="when" value="(\w+)"[^>]*checked', page).group(1)
    return values


def change_url(message: OutboundMessage) -> str:
    return f"/admin/campaigns/outboundmessage/{message.pk}/change/"


def test_nine_in_nairobi_is_stored_as_six_utc_and_shown_as_nine_eat(nairobi_staff, channel):
    day = a_day_ahead()
    response = nairobi_staff.post(
        ADD_URL,
        {"channel": channel.pk, "to": "+254712345678", "body": "Hi", "send_at_0": day, "send_at_1": "09:00"},
        follow=True,
    )
    message = OutboundMessage.objects.get()
    assert message.status == Status.SCHEDULED
    assert message.send_at == datetime.combine(datetime.fromisoformat(day).date(), time(6, 0), tzinfo=UTC)
    confirmation = [str(m) for m in response.context["messages"]]
    assert any("scheduled for" in m and "09:00 Africa/Nairobi (EAT, UTC+03:00)" in m for m in confirmation)
    assert not any("(queued)" in m for m in confirmation)

    page = nairobi_staff.get(change_url(message)).content.decode()
    assert f'type="date" name="send_at_0" value="{day}"' in page
    assert 'type="time" name="send_at_1" value="09:00"' in page
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page

    changelist = nairobi_staff.get("/admin/campaigns/outboundmessage/").content.decode()
    assert ", 9 a.m.</td>" in changelist and "6 a.m." not in changelist
    assert '<span class="time-zone-name">Africa/Nairobi (EAT, UTC+03:00)</span>' in changelist


def test_the_edit_form_round_trips_unchanged(nairobi_staff, channel):
    when = datetime.combine(datetime.fromisoformat(a_day_ahead()).date(), time(9, 30), tzinfo=NAIROBI)
    message = OutboundMessage.send_one(channel=channel, to="+254712345678", text="Hi", send_at=when)
    page = nairobi_staff.get(change_url(message)).content.decode()
    data = {"channel": channel.pk, "to": message.to, "body": "Hi there", **rendered_values(page)}
    assert data["when"] == "later"
    assert nairobi_staff.post(change_url(message), data).status_code == 302
    message.refresh_from_db()
    assert (message.status, message.send_at, message.body) == (Status.SCHEDULED, when, "Hi there")


def test_clearing_the_time_never_sends_a_scheduled_message_early(nairobi_staff, channel):
    when = timezone.now() + timedelta(days=3)
    message = OutboundMessage.send_one(channel=channel, to="+254712345678", text="Hi", send_at=when)
    response = nairobi_staff.post(change_url(message), {"channel": channel.pk, "to": message.to, "body": "Hi"})
    assert response.status_code == 200
    assert "send_at: choose the date and time to send it, or choose “Send now”." in response.content.decode()
    message.refresh_from_db()
    assert (message.status, message.send_at) == (Status.SCHEDULED, when)


def test_a_half_cleared_time_is_refused_too(nairobi_staff, channel):
    when = timezone.now() + timedelta(days=3)
    message = OutboundMessage.send_one(channel=channel, to="+254712345678", text="Hi", send_at=when)
    data = {"channel": channel.pk, "to": message.to, "body": "Hi", "when": "later", "send_at_0": a_day_ahead(3)}
    response = nairobi_staff.post(change_url(message), data)
    assert "Give a time as well." in response.content.decode()
    message.refresh_from_db()
    assert message.status == Status.SCHEDULED


def test_send_now_must_be_chosen_explicitly_and_then_queues_it(nairobi_staff, channel):
    message = OutboundMessage.send_one(
        channel=channel, to="+254712345678", text="Hi", send_at=timezone.now() + timedelta(days=3)
    )
    response = nairobi_staff.post(
        change_url(message), {"channel": channel.pk, "to": message.to, "body": "Hi", "when": "now"}, follow=True
    )
    message.refresh_from_db()
    assert (message.status, message.send_at) == (Status.QUEUED, None)
    assert any("queued to send now" in str(m) for m in response.context["messages"])


def test_a_time_that_has_passed_is_refused_with_its_value(nairobi_staff, channel):
    yesterday = (timezone.now().astimezone(NAIROBI) - timedelta(days=1)).strftime("%Y-%m-%d")
    data = {"channel": channel.pk, "to": "+254712345678", "body": "Hi", "send_at_0": yesterday, "send_at_1": "09:00"}
    response = nairobi_staff.post(ADD_URL, data)
    page = response.content.decode()
    assert "send_at: " in page and "09:00 Africa/Nairobi" in page and "has passed" in page
    assert not OutboundMessage.objects.exists()


def test_a_scheduled_message_can_be_cancelled_from_its_page(nairobi_staff, channel):
    message = OutboundMessage.send_one(
        channel=channel, to="+254712345678", text="Hi", send_at=timezone.now() + timedelta(days=3)
    )
    nairobi_staff.post(change_url(message), {"channel": channel.pk, "to": message.to, "body": "", "when": "cancel"})
    message.refresh_from_db()
    assert message.status == Status.CANCELLED


def test_an_edit_after_a_worker_took_the_message_changes_nothing(nairobi_staff, channel):
    message = OutboundMessage.send_one(
        channel=channel, to="+254712345678", text="Hi", send_at=timezone.now() + timedelta(days=3)
    )
    form_page = nairobi_staff.get(change_url(message))
    assert form_page.status_code == 200
    OutboundMessage.objects.filter(pk=message.pk).update(status=Status.SENDING, claim_token="0" * 32)
    data = {"channel": channel.pk, "to": message.to, "body": "Changed", "when": "now"}
    nairobi_staff.post(change_url(message), data)
    message.refresh_from_db()
    assert (message.body, message.status) == ("Hi", Status.SENDING)


def test_without_a_profile_dates_are_in_the_sites_zone(client, user, settings):
    client.force_login(user)
    page = client.get(ADD_URL).content.decode()
    assert f"Time zone: {settings.TIME_ZONE}" in page


def test_every_admin_date_input_names_the_zone_and_takes_a_date_from_the_address(nairobi_staff, channel):
    page = nairobi_staff.get("/admin/campaigns/outboundmessage/add/?send_at=2026-12-03T14:30").content.decode()
    assert 'name="send_at_0" value="2026-12-03"' in page and 'name="send_at_1" value="14:30"' in page
    page = nairobi_staff.get("/admin/campaigns/campaign/add/?scheduled_at=2026-12-03").content.decode()
    assert 'name="scheduled_at_0" value="03/12/2026"' in page
    assert 'name="scheduled_at_1" value="09:00:00"' in page
    assert '<span class="time-zone-name" title="Your time zone">Africa/Nairobi (EAT, UTC+03:00)</span>' in page


def test_staff_choose_their_zone_and_a_bad_name_is_refused_naming_it(client, user):
    client.force_login(user)
    page = client.get("/admin/time-zone/")
    assert page.status_code == 200
    refused = client.post("/admin/time-zone/", {"time_zone": "Mars/Olympus"})
    assert "Mars/Olympus" in refused.content.decode()
    assert not StaffProfile.objects.exists()
    saved = client.post("/admin/time-zone/", {"time_zone": "America/New_York", "next": "/admin/"})
    assert saved.status_code == 302 and saved["Location"] == "/admin/"
    assert StaffProfile.objects.get(user=user).time_zone == "America/New_York"
    assert "Time zone: America/New_York (E" in client.get("/admin/").content.decode()


def test_the_time_zone_page_is_for_staff_only(client):
    response = client.get("/admin/time-zone/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    non_staff = get_user_model().objects.create_user("joe", "joe@example.com", "pw-for-tests-only")
    client.force_login(non_staff)
    assert client.post("/admin/time-zone/", {"time_zone": "Europe/Paris"}).status_code == 302
    assert not StaffProfile.objects.exists()

"""In Chromium: a staff member in Nairobi schedules one message, reopens it, saves it again, and it stays put."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from campaigns.models import OutboundMessage
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


def test_a_scheduled_message_reopens_with_its_time_and_saves_unchanged(page, live_server, nairobi_staff, channel):
    day = (timezone.now().astimezone(NAIROBI) + timedelta(days=5)).date()
    expected = datetime.combine(day, time(9, 0), tzinfo=NAIROBI)
    log_in(page, live_server, "amina")
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/add/")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("#id_to", "+254 712 345678")
    page.fill("#id_body", "Your order is ready")
    page.check("input[name=when][value=later]")
    page.fill("#id_send_at_0", day.isoformat())
    page.fill("#id_send_at_1", "09:00")
    shot(page, "message-add")
    page.click("input[name=_continue]")
    confirmation = page.locator(".messagelist .success").inner_text()
    assert "is scheduled for" in confirmation and "09:00 Africa/Nairobi (EAT, UTC+03:00)" in confirmation
    assert "(queued)" not in confirmation

    message = OutboundMessage.objects.get()
    assert (message.status, message.send_at) == (OutboundMessage.Status.SCHEDULED, expected)
    # Reopened: the date and time are there as entered, the zone named, "At the date and time" chosen.
    assert page.input_value("#id_send_at_0") == day.isoformat()
    assert page.input_value("#id_send_at_1") == "09:00"
    assert page.is_checked("input[name=when][value=later]")
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page.locator(".field-send_at").inner_text()
    shot(page, "message-edit")

    page.fill("#id_body", "Your order is ready for pick-up")
    page.click("input[name=_save]")
    assert "is scheduled for" in page.locator(".messagelist .success").inner_text()
    message.refresh_from_db()
    assert (message.status, message.send_at) == (OutboundMessage.Status.SCHEDULED, expected)
    assert message.body == "Your order is ready for pick-up"

    # Clearing the time and saving is refused; it stays scheduled.
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/{message.pk}/change/")
    page.fill("#id_send_at_1", "")
    page.fill("#id_send_at_0", "")
    page.click("input[name=_save]")
    assert "choose the date and time" in page.locator(".errorlist").first.inner_text()
    message.refresh_from_db()
    assert (message.status, message.send_at) == (OutboundMessage.Status.SCHEDULED, expected)


def test_the_time_zone_page_changes_every_date_shown(page, live_server, nairobi_staff, channel):
    when = datetime.combine((timezone.now() + timedelta(days=5)).date(), time(6, 0), tzinfo=zoneinfo.ZoneInfo("UTC"))
    OutboundMessage.send_one(channel=channel, to="+254712345678", text="Hi", send_at=when)
    log_in(page, live_server, "amina")
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/")
    assert "9 a.m." in page.locator("td.field-send_at").inner_text()
    page.click("#time-zone-link")
    page.select_option("#id_time_zone", "Europe/London")
    shot(page, "time-zone")
    page.click("input[type=submit]")
    assert "Europe/London" in page.locator(".messagelist .success").inner_text()
    assert "6 a.m." in page.locator("td.field-send_at").inner_text()
    assert "Europe/London (GMT, UTC+00:00)" in page.locator("#result_list thead").inner_text()
    shot(page, "message-list")

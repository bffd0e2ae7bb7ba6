"""In Chromium: the campaign calendar, used with the mouse and the keyboard by a staff member in Nairobi."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
Status = Campaign.Status


@pytest.fixture
def next_month() -> date:
    today = timezone.now().astimezone(NAIROBI).date()
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


def open_calendar(page, live_server, month: date) -> None:
    page.goto(f"{live_server.url}/admin/campaigns/campaign/calendar/?month={month:%Y-%m}")
    page.wait_for_selector(f"td.fc-daygrid-day[data-date='{month:%Y-%m}-15']")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NAIROBI)


def test_clicking_a_day_starts_a_campaign_on_that_date(page, live_server, nairobi_staff, next_month):
    day = next_month.replace(day=3)
    log_in(page, live_server, "amina")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    page.click("#campaign-calendar-link")
    page.wait_for_selector("#campaign-calendar .fc-daygrid-day")
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page.inner_text("#calendar-time-zone")
    open_calendar(page, live_server, next_month)
    page.click(f"td.fc-daygrid-day[data-date='{day.isoformat()}'] .fc-daygrid-day-frame")

    page.wait_for_url("**/admin/campaigns/campaign/add/**")
    assert page.input_value("#id_scheduled_at_0") == day.strftime("%d/%m/%Y")
    assert page.input_value("#id_scheduled_at_1") == "09:00:00"
    assert "Africa/Nairobi (EAT, UTC+03:00)" in page.inner_text(".field-scheduled_at")
    # The campaign form (campaign-page's) takes it from here: it starts the day at 09:00 in the staff zone.
    assert page.url.endswith(f"/admin/campaigns/campaign/add/?scheduled_at={day.isoformat()}")


def test_dragging_a_scheduled_campaign_moves_it_after_a_confirmation(
    page, live_server, nairobi_staff, channel, next_month
):
    campaign = Campaign.objects.create(
        name="Black Friday", channel=channel, status=Status.SCHEDULED, scheduled_at=at(next_month.replace(day=9), 9, 15)
    )
    Campaign.objects.create(
        name="October promo", channel=channel, status=Status.COMPLETED, scheduled_at=at(next_month.replace(day=2), 8)
    )
    Campaign.objects.create(
        name="Order updates",
        channel=channel,
        kind=Campaign.Kind.BULK_API,
        status=Status.RUNNING,
        scheduled_at=at(next_month.replace(day=9), 14),
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    log_in(page, live_server, "amina")
    open_calendar(page, live_server, next_month)
    entry = page.locator(f"[data-campaign-id='{campaign.pk}']")
    entry.wait_for()
    shot(page, "calendar-month")

    target_day = next_month.replace(day=18)
    drag(page, entry, page.locator(f"td.fc-daygrid-day[data-date='{target_day.isoformat()}']"))
    page.wait_for_selector(".calendar-status.is-ok")
    assert dialogs and "Black Friday" in dialogs[0] and "09:15" in dialogs[0] and "Africa/Nairobi" in dialogs[0]
    assert "09:15 Africa/Nairobi" in page.inner_text("#calendar-status")
    campaign.refresh_from_db()
    assert campaign.scheduled_at == at(target_day, 9, 15)
    moved = page.locator(f"td.fc-daygrid-day[data-date='{target_day.isoformat()}'] [data-campaign-id='{campaign.pk}']")
    assert moved.count() == 1

    # Once it has started it cannot be moved: the page says so and the entry goes back.
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.RUNNING)
    drag(page, moved, page.locator(f"td.fc-daygrid-day[data-date='{next_month.replace(day=25).isoformat()}']"))
    page.wait_for_selector(".calendar-status.is-error")
    assert "can no longer be moved" in page.inner_text("#calendar-status")
    assert any("can no longer be moved" in message for message in dialogs)
    campaign.refresh_from_db()
    assert campaign.scheduled_at == at(target_day, 9, 15)
    page.wait_for_selector(
        f"td.fc-daygrid-day[data-date='{target_day.isoformat()}'] [data-campaign-id='{campaign.pk}']"
    )

    page.click(".fc-dayGridWeek-button")
    page.wait_for_selector(".fc-dayGridWeek-view")
    shot(page, "calendar-week")


def test_cancelling_the_confirmation_leaves_the_campaign_where_it_was(
    page, live_server, nairobi_staff, channel, next_month
):
    when = at(next_month.replace(day=9), 10)
    campaign = Campaign.objects.create(name="Spring", channel=channel, status=Status.SCHEDULED, scheduled_at=when)
    page.on("dialog", lambda dialog: dialog.dismiss())
    log_in(page, live_server, "amina")
    open_calendar(page, live_server, next_month)
    entry = page.locator(f"[data-campaign-id='{campaign.pk}']")
    drag(page, entry, page.locator(f"td.fc-daygrid-day[data-date='{next_month.replace(day=20).isoformat()}']"))
    page.wait_for_selector("#calendar-status:has-text('Not moved.')")
    campaign.refresh_from_db()
    assert campaign.scheduled_at == when


def test_months_change_with_the_keyboard(page, live_server, nairobi_staff, next_month):
    following = (next_month + timedelta(days=32)).replace(day=1)
    log_in(page, live_server, "amina")
    open_calendar(page, live_server, next_month)
    title = page.inner_text(".fc-toolbar-title")
    assert title == f"{next_month:%B %Y}"

    page.keyboard.press("PageDown")
    page.wait_for_selector(f"td.fc-daygrid-day[data-date='{following:%Y-%m}-15']")
    assert page.inner_text(".fc-toolbar-title") == f"{following:%B %Y}"
    assert f"month={following:%Y-%m}" in page.url

    page.keyboard.press("PageUp")
    page.keyboard.press("PageUp")
    previous = (next_month - timedelta(days=1)).replace(day=1)
    page.wait_for_selector(f"td.fc-daygrid-day[data-date='{previous:%Y-%m}-15']")
    assert page.inner_text(".fc-toolbar-title") == f"{previous:%B %Y}"

    # Days that have passed cannot be planned on; a coming day is reachable with Tab, and Enter plans on it.
    yesterday = timezone.now().astimezone(NAIROBI).date() - timedelta(days=1)
    if (yesterday.year, yesterday.month) == (previous.year, previous.month):
        assert page.get_attribute(f"td.fc-daygrid-day[data-date='{yesterday}']", "tabindex") is None
    page.keyboard.press("PageDown")
    page.wait_for_selector(f"td.fc-daygrid-day[data-date='{next_month:%Y-%m}-15']")
    page.focus(f"td.fc-daygrid-day[data-date='{next_month:%Y-%m}-20']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/admin/campaigns/campaign/add/?scheduled_at={next_month:%Y-%m}-20")


def drag(page, source, target) -> None:
    """A person's drag: press, move in steps past FullCalendar's threshold, release."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    end = target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 5, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    page.mouse.up()

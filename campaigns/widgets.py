"""Date and time inputs that name the staff member's time zone beside them.

Every date the admin shows or takes is in the zone the middleware activated for the request
(messaging_site/middleware.py); these widgets say which one, so no one has to guess.
"""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from campaigns.models.staff import zone_label


def zone_suffix() -> str:
    return format_html('<span class="time-zone-name" title="Your time zone">{}</span>', zone_label())


PREFILL_TIME = time(9, 0)  # a day given alone (a day clicked on the calendar) starts at 09:00


def parse_prefill(value: str) -> datetime | None:
    """A value given in the address (?scheduled_at=2026-12-03 or 2026-12-03T14:30), in the staff member's zone."""
    value = value.strip().replace(" ", "T", 1)
    try:
        day = parse_date(value)  # first: parse_datetime would read a bare day as midnight
        moment = datetime.combine(day, PREFILL_TIME) if day is not None else parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class ZoneNamedMixin:
    """Names the zone after the inputs, and accepts a date or date-time string as the initial value."""

    def decompress(self, value):
        if isinstance(value, str):
            value = parse_prefill(value)
        return super().decompress(value)

    def render(self, name, value, attrs=None, renderer=None) -> str:
        return mark_safe(super().render(name, value, attrs, renderer) + " " + zone_suffix())  # noqa: S308


class ZonedAdminSplitDateTime(ZoneNamedMixin, AdminSplitDateTime):
    """The admin's date and time inputs (with their pickers), zone named."""


class ZonedDateTimeInputs(ZoneNamedMixin, forms.SplitDateTimeWidget):
    """The browser's own date and time pickers. They need ISO values, whatever the site's language."""

    def __init__(self, attrs=None) -> None:
        super().__init__(
            attrs=attrs,
            date_format="%Y-%m-%d",
            time_format="%H:%M",
            date_attrs={"type": "date"},
            time_attrs={"type": "time"},
        )

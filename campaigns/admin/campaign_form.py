"""The campaign page's form: what to send, to whom, when, and within which hours.

Dates are entered in the staff member's time zone (the active one, named beside the field) and
round-trip: the date input gets ISO dates, never a localised "24/11/2026" it cannot read.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.links import utm_problem
from campaigns.models import Campaign
from campaigns.models.staff import zone_label
from campaigns.pipeline.lifecycle import duration_words
from campaigns.widgets import ZonedAdminSplitDateTime, parse_prefill
from providers.models import Channel

LATENESS_CHOICES = [("", "Always start, however late")] + [
    (str(int(minutes * 60)), f"Wait for me if more than {duration_words(timedelta(minutes=minutes))} late")
    for minutes in (15, 30, 60, 120, 360, 1440)
]
DEFAULT_LATENESS = str(60 * 60)


class CampaignForm(forms.ModelForm):
    scheduled_at = forms.SplitDateTimeField(
        required=False,
        widget=ZonedAdminSplitDateTime(),
        label="Send at",
        help_text="Leave empty and press “Launch now” to send at once; saving with a date and time schedules it.",
    )
    max_lateness = forms.TypedChoiceField(
        choices=LATENESS_CHOICES,
        required=False,
        coerce=lambda seconds: timedelta(seconds=int(seconds)),
        empty_value=None,
        label="If it starts late",
        help_text="After downtime a campaign can be hours late; a sale that ended should not go out.",
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "channel",
            "template",
            "text",
            "track_links",
            "link_utm",
            "lists",
            "exclude_lists",
            "duplicates_allowed",
            "scheduled_at",
            "window_start",
            "window_end",
            "max_lateness",
        ]
        labels = {"lists": "Send to", "text": "Free text", "exclude_lists": "Exclusion lists"}
        help_texts = {
            "text": "Used when no template is chosen; may hold placeholders such as {{ first_name }}.",
            "lists": "Everyone in any of these lists, once per number; opted-out contacts are never sent to.",
            "window_start": "In each recipient's local time (from their number): a message outside the hours "
            "waits for them. Empty for any time of day.",
            "window_end": "May be past midnight: 22:00 to 06:00 sends through the night.",
        }
        widgets = {
            "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "channel" in self.fields:
            self.fields["channel"].queryset = Channel.objects.filter(is_active=True)
        if "max_lateness" in self.fields:
            current = self.instance.max_lateness if self.instance.pk else timedelta(seconds=int(DEFAULT_LATENESS))
            self.initial["max_lateness"] = str(int(current.total_seconds())) if current else ""

    def clean_link_utm(self) -> str:
        value = self.cleaned_data.get("link_utm", "").strip()
        problem = utm_problem(value)
        if problem:
            raise ValidationError(problem)
        return value

    def clean_scheduled_at(self) -> datetime | None:
        at = self.cleaned_data.get("scheduled_at")
        if at is None:
            if self.instance.pk and self.instance.status == Campaign.Status.SCHEDULED:
                raise ValidationError(
                    "scheduled_at: a scheduled campaign needs a time; use “Launch now” to send at once, "
                    "or “Cancel” to stop it."
                )
            return None
        changed = "scheduled_at" in self.changed_data
        if changed and at <= timezone.now():
            shown = timezone.localtime(at).strftime("%Y-%m-%d %H:%M")
            raise ValidationError(
                f"scheduled_at: {shown} ({zone_label()}) has passed; choose a later "
                "time, or leave it empty and use “Launch now”."
            )
        return at

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if (start is None) != (end is None):
            given = "window_start" if start is not None else "window_end"
            self.add_error(given, f"{given}: give both “send from” and “send until”, or neither (any time of day).")
        elif start is not None and start == end:
            self.add_error("window_end", f"window_end: {end:%H:%M} equals “send from”; the window would be empty.")
        has_content = data.get("text") or data.get("template")
        if "text" in self.fields and not has_content:
            self.add_error("text", "text: write a text or choose a template.")
        return data


def prefill_date(value: str) -> datetime | None:
    """?scheduled_at= from the calendar's click on a day (2026-12-03, or 2026-12-03T09:00), in the staff's zone.

    A bare day starts at 09:00. Nothing readable: no prefill.
    """
    value = value.strip()
    if len(value) == len("2026-12-03"):
        day = parse_prefill(value)  # parse_datetime would read a bare day as midnight
        return (
            timezone.make_aware(datetime.combine(day.date() if isinstance(day, datetime) else day, time(9, 0)))
            if day
            else None
        )
    moment = parse_prefill(value) if value else None
    return moment if isinstance(moment, datetime) else None

"""The campaign page's form: what to send, to whom, when, and within which hours.

Dates are entered in the staff member's time zone (the active one, named beside the field) and
round-trip: the date input gets ISO dates, never a localised "24/11/2026" it cannot read.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.admin import template_picker as picker
from campaigns.links import utm_problem
from campaigns.models import Campaign
from campaigns.models.staff import zone_label
from campaigns.pipeline.lifecycle import duration_words
from campaigns.whatsapp import is_sms_channel, is_whatsapp_channel
from campaigns.widgets import ZonedAdminSplitDateTime, parse_prefill
from providers.models import Channel

LATENESS_CHOICES = [("", "Always start, however late")] + [
    (str(int(minutes * 60)), f"Wait for me if more than {duration_words(timedelta(minutes=minutes))} late")
    for minutes in (15, 30, 60, 120, 360, 1440)
]
DEFAULT_LATENESS = str(60 * 60)
TEST_WAIT_CHOICES = [("", "—")] + [
    (str(int(minutes * 60)), duration_words(timedelta(minutes=minutes))) for minutes in (5, 30, 60, 120, 240, 720, 1440)
]
MAX_FALLBACK_MINUTES = 7 * 24 * 60


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
    test_wait = forms.TypedChoiceField(
        choices=TEST_WAIT_CHOICES,
        required=False,
        coerce=lambda seconds: timedelta(seconds=int(seconds)),
        empty_value=None,
        label="Pick the winner after",
        help_text="How long the test's recipients have to click or reply, from when the test's messages are in.",
    )

    whatsapp_template = picker.template_field()
    provider_template_id = picker.template_id_field()
    preview_contact = picker.preview_contact_field()

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
            "test_share",
            "test_wait",
            "winner_by",
            "fallback_channel",
            "fallback_text",
            "fallback_after",
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
            "fallback_text": forms.Textarea(attrs={"rows": 3}),
            "fallback_after": forms.NumberInput(attrs={"min": 1, "max": MAX_FALLBACK_MINUTES}),
            "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "channel" in self.fields:
            self.fields["channel"].queryset = Channel.objects.filter(is_active=True)
        self.variables = None
        if "channel" in self.fields:  # editable (a started campaign's form has no content fields)
            picker.set_up_picker(self)
        if "fallback_channel" in self.fields:
            # Every channel, so a WhatsApp one chosen by hand is refused with its name (clean), not "invalid".
            self.fields["fallback_channel"].queryset = Channel.objects.filter(is_active=True)
        if "max_lateness" in self.fields:
            current = self.instance.max_lateness if self.instance.pk else timedelta(seconds=int(DEFAULT_LATENESS))
            self.initial["max_lateness"] = str(int(current.total_seconds())) if current else ""
        if "test_wait" in self.fields and self.instance.test_wait:
            self.initial["test_wait"] = str(int(self.instance.test_wait.total_seconds()))

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
                f"scheduled_at: {shown} {zone_label()} has passed; choose a later "
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
        if self.variables is not None:
            picker.clean_picker(self, data)
        has_content = (
            data.get("text") or data.get("template") or self.instance.provider_template or self.variants_given()
        )
        if "text" in self.fields and not has_content:
            self.add_error("text", "text: write a text or choose a template (or give A/B variants below).")
        self.clean_test(data)
        if "fallback_channel" in self.fields:
            self.clean_fallback(data)
        return data

    def variants_given(self) -> bool:
        """Whether the A/B variants inline (prefix "variants") posted any text or template."""
        total = self.data.get("variants-TOTAL_FORMS") or "0"
        forms_posted = range(int(total) if total.isdigit() else 0)
        return any(
            (self.data.get(f"variants-{n}-text", "").strip() or self.data.get(f"variants-{n}-template"))
            and not self.data.get(f"variants-{n}-DELETE")
            for n in forms_posted
        )

    def clean_test(self, data: dict) -> None:
        """Test then winner: a share between 1 and 99, a wait and a way to choose, all or none."""
        share = data.get("test_share")
        if share is None:
            return
        if not 1 <= share <= 99:
            self.add_error("test_share", f"test_share: {share} is not between 1 and 99 (percent of the audience).")
        if not self.variants_given():
            self.add_error("test_share", "test_share: a test needs at least two A/B variants below.")
        if not data.get("winner_by"):
            self.add_error("winner_by", "winner_by: choose how to pick the winner (click or reply rate, or a person).")
        if data.get("test_wait") is None and data.get("winner_by") != "person":
            self.add_error("test_wait", "test_wait: choose how long to wait before picking the winner.")

    def clean_fallback(self, data: dict) -> None:
        """The SMS fallback: an SMS channel and a text, together, on a WhatsApp campaign."""
        fallback, after = data.get("fallback_channel"), data.get("fallback_after")
        text = data["fallback_text"] = (data.get("fallback_text") or "").strip()
        channel = data.get("channel")
        if fallback is None:
            if text:
                self.add_error(
                    "fallback_channel",
                    "fallback_channel: choose the SMS channel the fallback text goes through, or empty the text.",
                )
            elif after is not None:
                self.add_error(
                    "fallback_channel",
                    f"fallback_channel: choose an SMS channel for the fallback after {after} minutes, "
                    "or empty the time.",
                )
            return
        if is_whatsapp_channel(fallback):
            self.add_error(
                "fallback_channel",
                f"fallback_channel: {fallback.name!r} is a {fallback.get_provider_display()} channel; "
                "the fallback goes by SMS, so choose an SMS channel.",
            )
        elif channel is not None and is_sms_channel(channel):
            self.add_error(
                "fallback_channel",
                f"fallback_channel: the campaign's channel {channel.name!r} sends SMS already; "
                "an SMS fallback is for WhatsApp campaigns. Leave it empty.",
            )
        if not text:
            self.add_error(
                "fallback_text",
                f"fallback_text: write the SMS that goes through {fallback.name!r}, "
                "or leave the fallback channel empty.",
            )
        if after is not None and not 1 <= after <= MAX_FALLBACK_MINUTES:
            self.add_error(
                "fallback_after",
                f"fallback_after: {after} minutes; give 1 to {MAX_FALLBACK_MINUTES} (a week), "
                "or leave it empty for no time limit.",
            )


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

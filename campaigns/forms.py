from __future__ import annotations

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import OutboundMessage
from campaigns.models.staff import zone_label
from campaigns.widgets import ZonedDateTimeInputs
from contacts.models import Suppression
from contacts.phones import normalise_phone
from providers.models import Channel

SEND_NOW, SEND_LATER, DONT_SEND = "now", "later", "cancel"


def local_text(moment: datetime) -> str:
    """A moment as staff read it: "Tue 24 Nov 2026, 09:00 Africa/Nairobi (EAT, UTC+03:00)"."""
    return f"{timezone.localtime(moment):%a %d %b %Y, %H:%M} {zone_label(at=moment)}"


class SendMessageForm(forms.ModelForm):
    """Staff send one message: a number, a channel, text and/or media, now or at a chosen time.

    Sending now is always an explicit choice: a scheduled message whose time is cleared is refused,
    never sent early.
    """

    media_url = forms.URLField(required=False, assume_scheme="https", help_text="An image, video or file to attach.")
    when = forms.ChoiceField(
        label="When",
        choices=[(SEND_NOW, "Send now"), (SEND_LATER, "At a date and time")],
        widget=forms.RadioSelect,
        initial=SEND_NOW,
        required=False,  # unanswered: at the time given, or the one it already has; never "now" by default
    )
    send_at = forms.SplitDateTimeField(
        label="Date and time",
        required=False,
        widget=ZonedDateTimeInputs(),
        help_text="In your time zone, named beside it (change it from “Time zone” at the top of the page).",
        error_messages={"invalid_date": "Give a date as well as the time.", "invalid_time": "Give a time as well."},
    )

    class Meta:
        model = OutboundMessage
        fields = ["channel", "to", "body", "media_url", "when", "send_at"]
        labels = {"body": "Text", "to": "To (phone number)"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(is_active=True)
        self.fields["to"].max_length = 40
        self.fields["to"].widget.attrs["maxlength"] = 40
        if self.instance.pk:
            if self.instance.media_urls:
                self.initial["media_url"] = self.instance.media_urls[0]
            scheduled = self.instance.status == OutboundMessage.Status.SCHEDULED
            self.initial["when"] = SEND_LATER if scheduled else SEND_NOW
            self.fields["when"].choices = [*self.fields["when"].choices, (DONT_SEND, "Do not send it (cancel)")]

    def clean_to(self) -> str:
        return normalise_phone(self.cleaned_data["to"], field="to")

    def clean_when(self) -> str:
        when = self.cleaned_data.get("when")
        if when:
            return when
        given = any(self.data.get(self.add_prefix(f"send_at_{part}")) for part in (0, 1))
        scheduled = self.instance.pk and self.instance.status == OutboundMessage.Status.SCHEDULED
        return SEND_LATER if given or scheduled else SEND_NOW

    def clean_send_at(self) -> datetime | None:
        send_at = self.cleaned_data.get("send_at")
        if self.cleaned_data.get("when") == SEND_LATER and send_at is None:
            raise ValidationError("send_at: choose the date and time to send it, or choose “Send now”.")
        return send_at

    def clean(self) -> dict:
        data = super().clean()
        when, send_at = data.get("when"), data.get("send_at")
        if when == SEND_NOW:
            data["send_at"] = None
        elif when == SEND_LATER and send_at is not None and send_at <= timezone.now():
            self.add_error("send_at", f"send_at: {local_text(send_at)} has passed; choose a later time or “Send now”.")
        if when != DONT_SEND and not data.get("body") and not data.get("media_url"):
            raise ValidationError("Write a text or attach a media URL.")
        to = data.get("to")
        if to and when != DONT_SEND and (refusal := Suppression.refusal(to)):
            self.add_error("to", refusal)
        return data

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from campaigns.models import OutboundMessage
from contacts.models import Contact
from contacts.phones import normalise_phone
from providers.models import Channel


class SendMessageForm(forms.ModelForm):
    """Staff send one message: a number, a channel, text and/or media, now or at a chosen time."""

    media_url = forms.URLField(required=False, assume_scheme="https", help_text="An image, video or file to attach.")
    send_at = forms.SplitDateTimeField(
        required=False,
        widget=forms.SplitDateTimeWidget(date_attrs={"type": "date"}, time_attrs={"type": "time"}),
        help_text="Leave empty to send now. In your time zone.",
    )

    class Meta:
        model = OutboundMessage
        fields = ["channel", "to", "body", "media_url", "send_at"]
        labels = {"body": "Text", "to": "To (phone number)"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(is_active=True)
        self.fields["to"].max_length = 40
        self.fields["to"].widget.attrs["maxlength"] = 40
        if self.instance.pk and self.instance.media_urls:
            self.initial["media_url"] = self.instance.media_urls[0]

    def clean_to(self) -> str:
        return normalise_phone(self.cleaned_data["to"], field="to")

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("body") and not data.get("media_url"):
            raise ValidationError("Write a text or attach a media URL.")
        to = data.get("to")
        if to and Contact.objects.filter(phone=to, opted_out_at__isnull=False).exists():
            self.add_error("to", f"{to} has opted out of messages.")
        return data

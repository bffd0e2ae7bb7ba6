from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages

from providers.base import ChannelError
from providers.models import Channel
from providers.registry import provider_classes, provider_for


class ChannelForm(forms.ModelForm):
    """Credentials are write-only: the form never shows what is stored, and blank keeps it."""

    new_credentials = forms.CharField(
        label="Credentials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"account_sid": "AC...", "auth_token": "..."}. '
        "Stored values are never shown; leave blank to keep them. Needed keys: "
        + "; ".join(f"{cls.code}: {', '.join(cls.credential_fields) or 'none'}" for cls in provider_classes().values()),
    )

    class Meta:
        model = Channel
        fields = [
            "name",
            "provider",
            "sender",
            "new_credentials",
            "rate_limit",
            "batch_size",
            "api_base_url",
            "options",
            "is_active",
            "paused_reason",
        ]

    def clean_new_credentials(self) -> dict | None:
        raw = self.cleaned_data["new_credentials"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"Credentials must be a JSON object ({error.msg}).") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Credentials must be a JSON object of text values.")
        return value

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        new = self.cleaned_data.get("new_credentials")
        if new is not None:
            channel.credentials = new
        if commit:
            channel.save()
        return channel


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "provider", "sender", "rate_limit", "is_active", "state", "created_at"]
    list_filter = ["provider", "is_active"]
    search_fields = ["name", "sender", "channel_key"]
    readonly_fields = ["channel_key", "credential_keys", "paused_at", "created_at"]
    actions = ["check_credentials", "resume_sending"]

    @admin.display(description="State")
    def state(self, channel: Channel) -> str:
        if not channel.is_active:
            return "Switched off"
        if channel.paused_at:
            return f"Paused: {channel.paused_reason}"
        return "Sending"

    @admin.display(description="Stored credential keys")
    def credential_keys(self, channel: Channel) -> str:
        """Which keys are stored, never their values."""
        return ", ".join(sorted(channel.credentials or {})) or "none"

    @admin.action(description="Check credentials with the provider")
    def check_credentials(self, request, queryset) -> None:
        for channel in queryset:
            try:
                answer = provider_for(channel).check_credentials()
            except ChannelError as error:
                self.message_user(request, f"{channel.name}: {error.reason}", messages.ERROR)
            else:
                self.message_user(request, f"{channel.name}: {answer}", messages.SUCCESS)

    @admin.action(description="Resume sending (after fixing what paused it)")
    def resume_sending(self, request, queryset) -> None:
        resumed = queryset.filter(paused_at__isnull=False).update(paused_at=None, paused_reason="")
        self.message_user(request, f"Resumed {resumed} channel(s).", messages.SUCCESS)

    def save_model(self, request, obj: Channel, form, change: bool) -> None:
        if not change and obj.rate_limit == Channel._meta.get_field("rate_limit").default:
            obj.rate_limit = obj.provider_class().default_rate_limit
        super().save_model(request, obj, form, change)

"""Channels in the admin: write-only credentials and a credentials check.

The campaigns app extends this screen with what needs messages (campaigns/admin/channel_actions.py:
the test message); resuming a channel tells the layers above through providers.signals.

Credentials are never rendered back: not as the form's initial data, not after a failed save, not
in the history (Django logs the labels of changed fields, never their values). Staff type each
credential in its own field (from the provider class's ``credential_fields``) or as a JSON object;
a blank field keeps what is stored.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from contacts.admin.deletion import BoundedDeletion
from contacts.phones import normalise_phone
from messaging_site.permissions import denied, model_perm
from providers.base import ChannelError
from providers.destinations import check_api_url
from providers.http import TransportError
from providers.models import Channel
from providers.registry import provider_classes, provider_for
from providers.sample_replies import can_send_sample_reply, send_sample_reply
from providers.signals import channels_resumed
from providers.webhook_addresses import setup_steps, unreachable_warning, webhook_addresses

CREDENTIAL_PREFIX = "credential__"
RETYPE_CREDENTIALS = "Credentials are never shown back: type them again before saving."


def credential_field_name(code: str, key: str) -> str:
    return f"{CREDENTIAL_PREFIX}{code}__{key}"


def credential_form_fields() -> dict[str, forms.Field]:
    """One password-style input per credential of every provider, never rendering a value."""
    fields = {}
    for cls in provider_classes().values():
        for key, label in cls.credential_fields.items():
            fields[credential_field_name(cls.code, key)] = forms.CharField(
                label=label,
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            )
    return fields


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, even what was just typed into a form with errors."""

    def format_value(self, value) -> None:
        return None


class ChannelForm(forms.ModelForm):
    # Text, so that clean_api_base_url says what is wrong (Django's URL field only says "Enter a valid URL").
    api_base_url = forms.CharField(
        label="API base URL",
        required=False,
        max_length=200,
        help_text=Channel._meta.get_field("api_base_url").help_text,
    )
    # Optional: a channel without a price shows "?" for its campaigns' cost, as before prices existed.
    price_per_segment = forms.DecimalField(
        label="Price per segment",
        required=False,
        min_value=0,
        max_digits=8,
        decimal_places=4,
        help_text="What one SMS segment (or WhatsApp message) costs here, for campaigns' cost. Empty or 0: unknown.",
    )
    new_credentials = forms.CharField(
        label="Credentials as JSON",
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text='Replaces all stored credentials, e.g. {"account_sid": "AC...", "auth_token": "..."}. '
        "Leave blank to keep them.",
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
            "price_per_segment",
            "currency",
            "api_base_url",
            "callback_ips",
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
            raise ValidationError(
                f"Credentials: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})."
            ) from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValidationError('Credentials: expected a JSON object of text values, like {"api_key": "..."}.')
        return value

    def clean_price_per_segment(self):
        return self.cleaned_data["price_per_segment"] or 0

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_api_base_url(self) -> str:
        value = (self.cleaned_data.get("api_base_url") or "").strip()
        check_api_url(value, "api_base_url")
        return value

    def clean_options(self) -> dict:
        options = self.cleaned_data.get("options") or {}
        if isinstance(options, dict) and options.get("bulk_api_base_url"):
            check_api_url(str(options["bulk_api_base_url"]), "options.bulk_api_base_url")
        return options

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("price_per_segment") and not cleaned.get("currency"):
            self.add_error("currency", "Currency: give the price's currency (USD, EUR, KES...) with the price.")
        if not self.errors:
            self._require_credentials_for_a_new_address(cleaned)
        return cleaned

    def _require_credentials_for_a_new_address(self, cleaned: dict) -> None:
        """Credentials are only sent where they were entered for: a new address needs them typed again."""
        stored = self.instance.credentials if self.instance.pk else {}
        if not stored:
            return
        new_destinations = self._destinations_after(cleaned)
        if new_destinations == self.instance.credentials_entered_for.split():
            return
        code = cleaned.get("provider") or self.instance.provider
        fields = provider_classes()[code].credential_fields if code in provider_classes() else {}
        retyped = cleaned.get("new_credentials") is not None or (
            fields and set(self.typed_credentials(code)) >= set(fields)
        )
        if not retyped:
            before = self.instance.credentials_entered_for.replace(" ", ", ") or "no address"
            after = ", ".join(new_destinations) or "no address"
            labels = ", ".join(fields.values()) or "the credentials as JSON"
            self.add_error(
                "api_base_url",
                f"api_base_url: the channel would send its credentials to {after}, but they were entered for "
                f"{before}. Type them again ({labels}) to use the new address: credentials are only ever "
                "sent where they were entered.",
            )

    def _destinations_after(self, cleaned: dict) -> list[str]:
        """Where the channel would send credentials once this form is saved."""
        probe = Channel(
            provider=cleaned.get("provider") or self.instance.provider,
            api_base_url=cleaned.get("api_base_url") or "",
            options=cleaned.get("options") or {},
        )
        return probe.destinations()

    def typed_credentials(self, code: str) -> dict[str, str]:
        """The credentials typed one by one for provider ``code`` (blank ones left out)."""
        typed = {}
        for name, value in self.cleaned_data.items():
            if name.startswith(f"{CREDENTIAL_PREFIX}{code}__") and value:
                typed[name.removeprefix(f"{CREDENTIAL_PREFIX}{code}__")] = value
        return typed

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self._errors and self._typed_any_credential():
            self.add_error(None, RETYPE_CREDENTIALS)

    def _typed_any_credential(self) -> bool:
        names = [name for name in self.fields if name.startswith(CREDENTIAL_PREFIX) or name == "new_credentials"]
        return any(str(self.data.get(self.add_prefix(name), "")).strip() for name in names)

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        new = self.cleaned_data.get("new_credentials")
        typed = self.typed_credentials(channel.provider)
        if new is not None or typed:
            # Typed now: kept for the addresses the channel points at now. After a change of address
            # nothing of the old ones is kept (clean() made sure all of them were typed again).
            moved = channel.pk and channel.destinations() != channel.credentials_entered_for.split()
            credentials = {} if moved else dict(channel.credentials or {})
            if new is not None:
                credentials = new
            channel.enter_credentials({**credentials, **typed})
        if commit:
            channel.save()
        return channel


class TestReplyForm(forms.Form):
    phone = forms.CharField(
        label="From", max_length=32, help_text="The number the reply comes from, e.g. +447911123456."
    )
    text = forms.CharField(
        label="Text",
        max_length=1600,
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="What time does the sale start?",
    )

    def clean_phone(self) -> str:
        return normalise_phone(self.cleaned_data["phone"], field="From")


@admin.register(Channel)
class ChannelAdmin(BoundedDeletion, admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "provider", "sender", "rate_limit", "is_active", "state", "created_at"]
    list_filter = ["provider", "is_active"]
    search_fields = ["name", "sender", "channel_key"]
    readonly_fields = [
        "channel_key",
        "credential_keys",
        "entered_for",
        "credentials_state",
        "paused_at",
        "created_at",
    ]
    actions = ["check_credentials", "resume_sending"]
    change_form_template = "admin/providers/channel/change_form.html"
    main_fields = [
        "name",
        "provider",
        "sender",
        "rate_limit",
        "batch_size",
        "price_per_segment",
        "currency",
        "api_base_url",
        "callback_ips",
        "options",
        "is_active",
        "paused_reason",
        "paused_at",
        "channel_key",
        "created_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The credential inputs depend on the providers configured, so the form class is built here.
        kwargs["form"] = type("ChannelForm", (self.form,), credential_form_fields())
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj: Channel | None = None):
        fieldsets = [(None, {"fields": self.main_fields})]
        if obj is not None and not self.has_change_permission(request, obj):
            # View-only staff (the Marketing group) see whether credentials are set, never what or which.
            return [*fieldsets, ("Credentials", {"fields": ["credentials_state"]})]
        for cls in provider_classes().values():
            if not cls.credential_fields or (obj is not None and obj.provider != cls.code):
                continue
            fieldsets.append(
                (
                    f"{cls.label} credentials",
                    {
                        "fields": [credential_field_name(cls.code, key) for key in cls.credential_fields],
                        "description": "Stored values are never shown. Leave a field blank to keep it."
                        if obj
                        else f"Fill these if the provider is {cls.label}.",
                        "classes": [] if obj else ["collapse"],
                    },
                )
            )
        fieldsets.append(("Credentials as JSON", {"fields": ["credential_keys", "entered_for", "new_credentials"]}))
        return fieldsets

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), **self.webhook_context(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def webhook_context(self, request, object_id) -> dict:
        """The channel's webhook addresses, for those who may change it: the URLs carry its secret token."""
        channel = self.get_object(request, object_id)
        if channel is None or not self.has_change_permission(request, channel):
            return {}
        return {
            "test_reply_url": reverse("admin:providers_channel_test_reply", args=[channel.pk])
            if can_send_sample_reply(channel)
            else "",
            "webhook_addresses": webhook_addresses(channel),
            "webhook_setup": setup_steps(channel),
            "webhook_warning": unreachable_warning() if channel.provider_class().webhooks else "",
            "webhook_provider": channel.get_provider_display(),
        }

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/test-reply/",
                self.admin_site.admin_view(self.test_reply_view),
                name="providers_channel_test_reply",
            )
        ]
        return own + super().get_urls()

    def test_reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Post a reply to the channel's own inbound address, as its provider would: the address, the
        signature or token, and the storing are all tested, and the reply lands in the inbox."""
        channel = self.get_object(request, object_id)
        if channel is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, channel):
            raise denied(model_perm(Channel, "change"), "send a test reply to a channel")
        if not can_send_sample_reply(channel):
            self.message_user(request, f"{channel.name}: this provider passes on no replies.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:providers_channel_change", args=[channel.pk]))
        form = TestReplyForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                outcome = send_sample_reply(channel, form.cleaned_data["phone"], form.cleaned_data["text"])
            except ValueError as error:
                self.message_user(request, f"The test reply did not arrive: {error}", messages.ERROR)
            else:
                self.message_user(request, outcome, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:providers_channel_change", args=[channel.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test reply to {channel.name}",
            "opts": self.opts,
            "channel": channel,
            "form": form,
        }
        return TemplateResponse(request, "admin/providers/channel/test_reply.html", context)

    @admin.display(description="State")
    def state(self, channel: Channel) -> str:
        if not channel.is_active:
            return "Switched off"
        if channel.paused_at:
            return f"Paused: {channel.paused_reason}"
        return "Sending"

    @admin.display(description="Credentials")
    def credentials_state(self, channel: Channel) -> str:
        if channel.credentials:
            return "Set, not shown: administrators manage a channel's credentials."
        return "None stored yet: an administrator has to add them before this channel can send."

    @admin.display(description="Stored credential keys")
    def credential_keys(self, channel: Channel) -> str:
        """Which keys are stored, never their values."""
        return ", ".join(sorted(channel.credentials or {})) or "none"

    @admin.display(description="Credentials entered for")
    def entered_for(self, channel: Channel) -> str:
        """The addresses the stored credentials may be sent to: changing the API address means typing them again."""
        if not channel.credentials:
            return "-"
        return ", ".join(channel.credentials_entered_for.split()) or "no address yet: type the credentials again"

    @admin.action(description="Check credentials with the provider", permissions=["change"])
    def check_credentials(self, request, queryset) -> None:
        for channel in queryset:
            try:
                answer = provider_for(channel).check_credentials()
            except ChannelError as error:
                self.message_user(request, f"{channel.name}: {error.reason}", messages.ERROR)
            except TransportError as error:
                self.message_user(
                    request, f"{channel.name}: could not ask the provider: {error.message}", messages.ERROR
                )
            else:
                self.message_user(request, f"{channel.name}: {answer}", messages.SUCCESS)

    @admin.action(description="Resume sending (after fixing what paused it)", permissions=["change"])
    def resume_sending(self, request, queryset) -> None:
        paused = list(queryset.filter(paused_at__isnull=False))
        queryset.filter(pk__in=[c.pk for c in paused]).update(paused_at=None, paused_reason="")
        answers = channels_resumed.send(sender=Channel, channels=paused)
        also = "".join(f" and {phrase}" for _, phrase in answers if phrase)
        self.message_user(request, f"Resumed {len(paused)} channel(s){also}.", messages.SUCCESS)

    def save_model(self, request, obj: Channel, form, change: bool) -> None:
        if not change and obj.rate_limit == Channel._meta.get_field("rate_limit").default:
            obj.rate_limit = obj.provider_class().default_rate_limit
        super().save_model(request, obj, form, change)

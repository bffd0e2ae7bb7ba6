from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from campaigns.api.auth import forget_keys
from campaigns.api.quota import used_today
from campaigns.models import ApiKey
from messaging_site import confirm

SCOPE_FIELDS = ["every_channel", "channels", "contact_saving", "contact_lists", "user_id_rule", "daily_recipient_quota"]
NOT_STAFF = "owner: that user is not active staff; only active staff users own API keys."


class ApiKeyForm(forms.ModelForm):
    """A key is on every channel or limited to the channels chosen: never both, never neither."""

    class Meta:
        model = ApiKey
        fields = [
            "user",
            "name",
            "expires_at",
            "every_channel",
            "channels",
            "contact_saving",
            "contact_lists",
            "daily_recipient_quota",
        ]

    def clean(self) -> dict:
        data = super().clean()
        chosen = data.get("channels")
        if "channels" not in self.fields:
            return data
        if data.get("every_channel") and chosen:
            self.add_error("channels", "channels: untick 'may send on every channel' to limit the key to these.")
        elif not data.get("every_channel") and not chosen:
            self.add_error("channels", "channels: choose at least one channel for a key limited to channels.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here and shown once; afterwards only their prefix is ever displayed.

    The page says what the key may do (its scope) and whether it works at all."""

    form = ApiKeyForm
    list_display = ["prefix", "name", "user", "works", "expires_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["channels", "contact_lists"]
    actions = ["revoke_keys"]

    def get_fieldsets(self, request, obj: ApiKey | None = None):
        if obj is None:
            return [
                (None, {"fields": ["user", "name", "expires_at"]}),
                ("What it may do", {"fields": [f for f in SCOPE_FIELDS if f != "user_id_rule"]}),
            ]
        return [
            (None, {"fields": ["user", "name", "prefix", "state"]}),
            ("What it may do", {"fields": [*SCOPE_FIELDS, "quota_used_today"]}),
            ("Lifetime", {"fields": ["created_at", "expires_at", "last_used_at", "revoked_at"]}),
        ]

    def get_readonly_fields(self, request, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return [
            "user",
            "prefix",
            "state",
            "user_id_rule",
            "quota_used_today",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["error_messages"] = {"invalid_choice": NOT_STAFF}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description="works")
    def works(self, key: ApiKey) -> str:
        """The list's short answer; the key's page says more."""
        why = key.why_not_working()
        return format_html("<strong>{}</strong>", why.capitalize()) if why else "Yes"

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str:
        why = key.why_not_working()
        if why == "expired":
            return format_html("<strong>Expired</strong> on {}", localtime(key.expires_at))
        if why:
            return format_html("<strong>Not working</strong>: {}", why)
        if key.expires_at:
            return format_html("Works until {}", localtime(key.expires_at))
        return "Works"

    @admin.display(description="who user_id may name")
    def user_id_rule(self, key: ApiKey) -> str:
        if key.may_name_any_member:
            return "Any active team member (the owner is an administrator)."
        return f"Only its owner, {key.user.get_username()} (user_id {key.user_id}); any other user_id is refused."

    @admin.display(description="recipients counted today (UTC)")
    def quota_used_today(self, key: ApiKey) -> str:
        quota = key.recipient_quota
        used = used_today(key)
        used_text = "unknown (Redis is unavailable)" if used is None else f"{used:,}"
        if not quota:
            return f"{used_text}; no quota"
        source = "this key's" if key.daily_recipient_quota else "the API_DAILY_RECIPIENT_QUOTA setting's"
        return f"{used_text} of {quota:,} ({source} quota); counts start again at midnight UTC"

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save()
            return
        raw = obj.set_new_secret()
        obj.save()
        # The only time the key is ever shown: only its hash is kept.
        self.message_user(
            request, f"The new API key is {raw} (copy it now: it will not be shown again).", messages.WARNING
        )

    @admin.action(description="Revoke selected keys…", permissions=["change"])
    def revoke_keys(self, request, queryset) -> TemplateResponse | None:
        if not confirm.confirmed(request):
            return confirm.ask(
                self,
                request,
                queryset.filter(revoked_at__isnull=True),
                question="Revoke these API keys?",
                consequence="Programs using them are refused from now on. This cannot be undone.",
                button="Yes, revoke them",
            )
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        forget_keys()  # an update sends no signal: every web process drops the keys it kept now
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
        return None


def localtime(when) -> str:
    """As the admin shows times: in the staff member's time zone, named."""
    return f"{date_format(timezone.localtime(when), 'DATETIME_FORMAT')} ({timezone.get_current_timezone_name()})"

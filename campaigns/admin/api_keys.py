from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from campaigns.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here and shown once; afterwards only their prefix is ever displayed."""

    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj: ApiKey | None = None) -> list[str]:
        return self.readonly_fields if obj is None else ["user", *self.readonly_fields]

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        key, raw = ApiKey.issue(obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        # The only time the key is ever shown: only its hash is kept.
        self.message_user(
            request, f"The new API key is {raw} (copy it now: it will not be shown again).", messages.WARNING
        )

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

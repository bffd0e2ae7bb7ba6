from __future__ import annotations

from django.contrib import admin

from campaigns.models import MessageTemplate


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "body", "updated_at"]
    search_fields = ["name", "body"]

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone

from campaigns.admin.calendar import calendar_urls
from campaigns.exports import results_export_url
from campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Staff campaigns to contact lists. Bulk API jobs have their own page (Bulk jobs)."""

    list_display = ["name", "channel", "status", "scheduled_at", "recipient_count", "sender_label", "status_reason"]
    list_filter = ["status", "channel"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    filter_horizontal = ["lists"]
    fields = [
        "name",
        "channel",
        "lists",
        "template",
        "text",
        "scheduled_at",
        "status",
        "status_reason",
        "progress",
        "recipient_count",
        "started_at",
        "finished_at",
        "sender_label",
    ]
    readonly_fields = ["status", "status_reason", "progress", "recipient_count", "started_at", "finished_at"]
    readonly_fields += ["sender_label"]
    actions = ["launch", "pause", "resume", "cancel"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=Campaign.Kind.CAMPAIGN)

    def get_urls(self) -> list:
        # "Export results" (campaigns/exports.py) and the calendar (campaigns/admin/calendar.py)
        return [results_export_url(self), *calendar_urls(self), *super().get_urls()]

    def get_readonly_fields(self, request, obj: Campaign | None = None) -> list[str]:
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [f for f in self.fields if f != "name"]  # only a draft can change what it sends
        return self.readonly_fields

    def save_model(self, request, obj: Campaign, form, change: bool) -> None:
        if not change:
            obj.kind = Campaign.Kind.CAMPAIGN
            obj.created_by = request.user
            obj.sender_label = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.display(description="Messages by state")
    def progress(self, campaign: Campaign) -> str:
        counts = campaign.messages.values("status").annotate(n=Count("id")).order_by("status")
        return ", ".join(f"{row['status']}: {row['n']}" for row in counts) or "no messages yet"

    @admin.action(description="Launch (at its scheduled time, or now if none)")
    def launch(self, request, queryset) -> None:
        for campaign in queryset:
            problems = campaign.problems_before_launch()
            if problems:
                self.message_user(request, f"{campaign.name}: not launched. {' '.join(problems)}", messages.ERROR)
            elif campaign.launch(at=campaign.scheduled_at):
                when = timezone.localtime(campaign.scheduled_at).strftime("%Y-%m-%d %H:%M")
                self.message_user(request, f"{campaign.name}: launched, starting {when}.", messages.SUCCESS)
            else:
                self.message_user(request, f"{campaign.name}: only a draft can be launched.", messages.WARNING)

    @admin.action(description="Pause")
    def pause(self, request, queryset) -> None:
        paused = sum(c.pause(f"Paused by {request.user.get_username()}") for c in queryset)
        self.message_user(request, f"Paused {paused} running campaign(s).", messages.SUCCESS)

    @admin.action(description="Resume")
    def resume(self, request, queryset) -> None:
        resumed = sum(campaign.resume() for campaign in queryset)
        self.message_user(request, f"Resumed {resumed} paused campaign(s).", messages.SUCCESS)

    @admin.action(description="Cancel (messages not sent yet are cancelled)")
    def cancel(self, request, queryset) -> None:
        cancelled = sum(c.cancel(f"Cancelled by {request.user.get_username()}") for c in queryset)
        self.message_user(request, f"Cancelled {cancelled} campaign(s).", messages.SUCCESS)

"""The synced WhatsApp templates: what each channel's provider lists, approved or not, and a sync button.

Read-only: templates are written at the provider (Twilio's Content Template Builder, Gupshup's
dashboard) and copied here by a sync. Those who may edit message templates may ask for a sync.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from campaigns.models import MessageTemplate, TemplateSync, WhatsAppTemplate
from campaigns.whatsapp.checks import shown_at
from campaigns.whatsapp.sync import request_sync, syncing_channels
from messaging_site.permissions import model_perm, require
from providers.models import Channel

SYNC_PERMISSION = model_perm(MessageTemplate, "change")


class ListedFilter(admin.SimpleListFilter):
    title = "listed by the provider"
    parameter_name = "listed"

    def lookups(self, request, model_admin):
        return [("yes", "Listed"), ("no", "Deleted at the provider")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(missing_since__isnull=True)
        if self.value() == "no":
            return queryset.filter(missing_since__isnull=False)
        return queryset


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "approval", "channel_name"]
    list_filter = ["channel", "status", "category", ListedFilter]
    search_fields = ["name", "provider_id", "body"]
    list_select_related = ["channel"]
    show_full_result_count = False
    fields = [
        "name",
        "language",
        "channel",
        "provider_id",
        "category",
        "kind",
        "approval",
        "header",
        "body",
        "footer",
        "buttons",
        "variables",
        "first_seen_at",
        "last_seen_at",
        "missing_since",
    ]
    readonly_fields = fields
    change_list_template = "admin/campaigns/whatsapptemplate/change_list.html"
    actions = None  # a copy of the provider's list: nothing to act on here

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Channel", ordering="channel__name")
    def channel_name(self, template: WhatsAppTemplate) -> str:
        return template.channel.name  # the category is a filter: the list stays within the page

    @admin.display(description="Approval", ordering="status")
    def approval(self, template: WhatsAppTemplate) -> str:
        if template.missing_since:
            return f"Deleted at the provider (not listed since {shown_at(template.missing_since)})"
        if template.status == "rejected" and template.rejection_reason:
            return f"Rejected: {template.rejection_reason}"
        return (template.status or "unknown").capitalize()

    def get_urls(self):
        own = [
            path("sync/", self.admin_site.admin_view(sync_now), name="campaigns_whatsapptemplate_sync"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "syncs": sync_states(),
            "may_sync": request.user.has_perm(SYNC_PERMISSION),
        }
        return super().changelist_view(request, extra_context)


@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    """POST: queue a sync of one channel (``channel``) or of every WhatsApp channel."""
    require(request, SYNC_PERMISSION, to="sync WhatsApp templates from the providers")
    channels = syncing_channels()
    if request.POST.get("channel"):
        channels = channels.filter(pk=request.POST["channel"] if request.POST["channel"].isdigit() else None)
    chosen = list(channels)
    for channel in chosen:
        request_sync(channel)
    if chosen:
        names = ", ".join(channel.name for channel in chosen)
        messages.success(request, f"Syncing the templates of {names}: the list below updates within a minute.")
    else:
        messages.error(request, "No active WhatsApp channel lists templates: nothing to sync.")
    return HttpResponseRedirect(request.POST.get("next") or reverse("admin:campaigns_whatsapptemplate_changelist"))


def sync_states() -> list[dict]:
    """For each WhatsApp channel: when its templates were last synced, and why the latest sync failed."""
    states = {state.channel_id: state for state in TemplateSync.objects.all()}
    rows = []
    for channel in syncing_channels().order_by("name"):
        state = states.get(channel.pk)
        rows.append(
            {
                "channel": channel,
                "worked": shown_at(state.last_worked_at) if state and state.last_worked_at else "",
                "listed": state.listed if state else 0,
                "error": state.last_error if state else "",
                "tried": shown_at(state.last_tried_at) if state and state.last_tried_at else "",
            }
        )
    return rows


def channel_sync_panel(channel: Channel) -> str:
    """The channel page's line on its templates (ChannelWithMessagesAdmin shows it)."""
    state = TemplateSync.objects.filter(channel=channel).first()
    count = WhatsAppTemplate.objects.filter(channel=channel, missing_since__isnull=True).count()
    link = reverse("admin:campaigns_whatsapptemplate_changelist") + f"?channel__id__exact={channel.pk}"
    parts = [f"{count} listed"]
    if state and state.last_worked_at:
        parts.append(f"last synced {shown_at(state.last_worked_at)}")
    if state and state.last_error:
        parts.append(f"the latest sync failed: {state.last_error}")
    return format_html('<a href="{}">WhatsApp templates</a>: {}.', link, "; ".join(parts))

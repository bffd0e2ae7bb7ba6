from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone

from campaigns.forms import SendMessageForm
from campaigns.models import ApiKey, BulkJob, Campaign, MessageTemplate, OutboundMessage


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "body", "updated_at"]
    search_fields = ["name", "body"]


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


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """The message log, and the place staff send or schedule a single message."""

    form = SendMessageForm
    list_display = ["id", "to", "channel", "status", "send_at", "sent_at", "provider_message_id", "sender_label"]
    list_filter = ["status", "channel", ("campaign", admin.EmptyFieldListFilter)]
    search_fields = ["to", "provider_message_id"]
    list_select_related = ["channel"]
    raw_id_fields = ["campaign", "contact"]
    actions = ["cancel_messages"]
    show_full_result_count = False  # millions of rows: no COUNT(*) per page
    sent_fields = [
        "campaign",
        "contact",
        "status",
        "attempts",
        "provider_message_id",
        "error_code",
        "error_message",
        "template",
        "variables",
        "created_by",
        "sender_label",
        "created_at",
        "sent_at",
        "delivered_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        if obj is None:
            return []
        if obj.is_editable:
            return [f for f in self.sent_fields]
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        if obj is None:
            return ["channel", "to", "body", "media_url", "send_at"]
        if obj.is_editable:
            return ["channel", "to", "body", "media_url", "send_at", *self.sent_fields]
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not obj.is_editable:
            kwargs["form"] = admin.ModelAdmin.form
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj: OutboundMessage, form, change: bool) -> None:
        data = form.cleaned_data
        media = [data["media_url"]] if data.get("media_url") else []
        if not change:
            sent = OutboundMessage.send_one(
                channel=data["channel"],
                to=data["to"],
                text=data.get("body", ""),
                media_urls=media,
                send_at=data.get("send_at"),
                user=request.user,
            )
            obj.pk = sent.pk
            return
        obj.media_urls = media
        OutboundMessage.objects.filter(pk=obj.pk).update(
            channel=obj.channel, to=obj.to, body=obj.body, media_urls=media
        )
        if "send_at" in form.changed_data and not obj.reschedule(data.get("send_at")):
            self.message_user(
                request, "Too late to change the time: the message is already on its way.", messages.WARNING
            )

    @admin.action(description="Cancel selected messages (those not sent yet)")
    def cancel_messages(self, request, queryset) -> None:
        cancelled = sum(message.cancel() for message in queryset.select_related(None).only("pk"))
        self.message_user(request, f"Cancelled {cancelled} message(s).", messages.SUCCESS)


@admin.register(BulkJob)
class BulkJobAdmin(admin.ModelAdmin):
    """The bulk messaging history: jobs from POST /messages/bulk, their progress, and changes until they start."""

    list_display = ["id", "name", "channel", "status", "scheduled_at", "recipient_count", "progress", "sender_label"]
    list_filter = ["status", "channel"]
    search_fields = ["name", "sender_label"]
    date_hierarchy = "created_at"
    list_select_related = ["channel"]
    list_per_page = 50  # the progress column costs one indexed query per row
    actions = ["cancel_jobs"]
    fields = ["name", "channel", "text", "media_urls", "provider_template", "status", "status_reason"]
    fields += ["scheduled_at", "started_at", "finished_at", "fanned_out_at", "recipient_count", "progress"]
    fields += ["duplicates_allowed", "sender_label", "created_by", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("inline_recipients")

    def has_add_permission(self, request) -> bool:
        return False  # jobs come from the API

    def get_readonly_fields(self, request, obj: BulkJob | None = None) -> list[str]:
        editable = ["text", "scheduled_at"] if obj is not None and not obj.has_started else []
        return [name for name in self.fields if name not in editable]

    def save_model(self, request, obj: BulkJob, form, change: bool) -> None:
        if obj.has_started:
            self.message_user(request, "Too late to change the job: it has started.", messages.WARNING)
            return
        BulkJob.objects.filter(pk=obj.pk, status=BulkJob.Status.SCHEDULED, fanned_out_at__isnull=True).update(
            text=obj.text
        )
        if "scheduled_at" in form.changed_data and not obj.reschedule(obj.scheduled_at):
            self.message_user(request, "Too late to change the time: the job has started.", messages.WARNING)

    @admin.display(description="Messages by state")
    def progress(self, job: BulkJob) -> str:
        counts = job.messages.order_by().values_list("status").annotate(n=Count("id"))
        return ", ".join(f"{status}: {n:,}" for status, n in sorted(counts)) or "none yet"

    @admin.action(description="Cancel selected jobs (those not started yet)")
    def cancel_jobs(self, request, queryset) -> None:
        cancelled = sum(job.cancel_before_start(f"Cancelled by {request.user}.") for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled or already cancelled.", messages.SUCCESS)


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

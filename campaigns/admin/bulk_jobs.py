from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse

from campaigns.models import BulkJob
from contacts.admin.deletion import BoundedDeletion
from messaging_site import confirm


@admin.register(BulkJob)
class BulkJobAdmin(BoundedDeletion, admin.ModelAdmin):
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
        counts = job.messages.order_by().values_list("status").annotate(n=Count("*"))
        return ", ".join(f"{status}: {n:,}" for status, n in sorted(counts)) or "none yet"

    @admin.action(description="Cancel selected jobs (those not started yet)…", permissions=["change"])
    def cancel_jobs(self, request, queryset) -> TemplateResponse | None:
        if not confirm.confirmed(request):
            return confirm.ask(
                self,
                request,
                queryset.filter(status=BulkJob.Status.SCHEDULED, fanned_out_at__isnull=True),
                question="Cancel these bulk jobs?",
                consequence="Jobs not started yet will send nothing. This cannot be undone.",
                button="Yes, cancel them",
            )
        cancelled = sum(job.cancel_before_start(f"Cancelled by {request.user}.") for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled or already cancelled.", messages.SUCCESS)
        return None

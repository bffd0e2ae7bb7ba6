"""Importing contacts from the Contact admin: upload -> columns and options -> preview -> confirm ->
progress (an RQ job) -> summary with the rejected rows as CSV. Also the list of past imports.

ContactImportMixin replaces django-import-export's import page (its Import button leads here) and
adds the pages after it under /admin/contacts/contact/import/.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.contrib import admin, messages
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from contacts.admin.deletion import BoundedDeletion
from contacts.admin.import_forms import OptionsForm, UploadForm
from contacts.importing import columns, engine, reading
from contacts.importing.errors import ImportFileError
from contacts.importing.jobs import check_worker, enqueue_import
from contacts.importing.report import rejected_rows_csv
from contacts.importing.summary import summary_lines
from contacts.models import ContactImport, ContactList
from messaging_site.permissions import model_perm, require

log = logging.getLogger(__name__)
TEMPLATES = "admin/contacts/import"
SAMPLE_ROWS = 3
STEPS = [(1, "Upload"), (2, "Columns and options"), (3, "Preview"), (4, "Import")]


class ContactImportMixin:
    """For ContactAdmin: the import pages. Staff need to add and change contacts to import."""

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        urls = [
            path("import/", view(self.import_action), name="contacts_contact_import"),
            path("import/<int:import_id>/", view(self.import_options_view), name="contacts_contact_import_options"),
            path(
                "import/<int:import_id>/preview/",
                view(self.import_preview_view),
                name="contacts_contact_import_preview",
            ),
            path(
                "import/<int:import_id>/confirm/",
                view(require_POST(self.import_confirm_view)),
                name="contacts_contact_import_confirm",
            ),
            path(
                "import/<int:import_id>/progress/",
                view(self.import_progress_view),
                name="contacts_contact_import_progress",
            ),
            path(
                "import/<int:import_id>/status.json",
                view(self.import_status_view),
                name="contacts_contact_import_status",
            ),
            path(
                "import/<int:import_id>/rejected.csv",
                view(self.import_rejected_view),
                name="contacts_contact_import_rejected",
            ),
        ]
        return [*urls, *super().get_urls()]

    def process_import(self, request, **kwargs):
        """django-import-export's confirm step, for its own upload page, which ours replaces: an
        import is confirmed on its preview page, so this address has nothing to do."""
        raise Http404("Imports are confirmed on their preview page.")

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _check(self, request) -> None:
        require(request, model_perm(self.model, "add"), model_perm(self.model, "change"), to="import contacts")

    def _page(self, request, template: str, title: str, step: int, **context) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "steps": STEPS,
            "step": step,
            "max_bytes": engine.max_upload_bytes(),
            "max_mb": engine.max_upload_bytes() // 1024 // 1024,
            **context,
        }
        return TemplateResponse(request, f"{TEMPLATES}/{template}", context)

    def _import(self, import_id: int, rows=None) -> ContactImport:
        rows = ContactImport.objects.select_related("target_list", "created_by") if rows is None else rows
        found = rows.filter(pk=import_id).first()
        if found is None:
            raise Http404(f"import: there is no import #{import_id} (it may have been deleted).")
        return found

    def _go(self, name: str, contact_import: ContactImport) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse(f"admin:contacts_contact_import_{name}", args=[contact_import.pk]))

    # 1. Upload ------------------------------------------------------------------------------------

    def import_action(self, request, **kwargs) -> TemplateResponse | HttpResponseRedirect:
        """The upload page (it replaces django-import-export's import page at the same address)."""
        self._check(request)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            uploaded = form.cleaned_data["file"]
            stored_path, size = engine.store_upload(uploaded.chunks(), uploaded.name)
            contact_import = ContactImport(
                created_by=request.user,
                file_name=uploaded.name[:255],
                stored_path=stored_path,
                file_size=size,
                region=_default_region(),
            )
            try:
                engine.open_import(contact_import)
            except ImportFileError as error:
                shutil.rmtree(Path(stored_path).parent, ignore_errors=True)
                form.add_error("file", str(error))
            else:
                contact_import.save()
                return self._go("options", contact_import)
        recent = ContactImport.objects.select_related("created_by", "target_list")[:5]
        return self._page(request, "upload.html", "Import contacts", 1, form=form, recent=recent)

    # 2. Columns and options -----------------------------------------------------------------------

    def import_options_view(self, request, import_id: int) -> TemplateResponse | HttpResponseRedirect:
        self._check(request)
        contact_import = self._import(import_id)
        if contact_import.state not in (ContactImport.State.UPLOADED, ContactImport.State.PREVIEWED):
            return self._go("progress", contact_import)
        if contact_import.file_removed_at:  # nothing left to read: its page says so
            return self._go("progress", contact_import)
        form = OptionsForm(
            request.POST or None, contact_import=contact_import, initial=OptionsForm.initial_for(contact_import)
        )
        if request.method == "POST" and form.is_valid():
            contact_import.mapping = form.mapping()
            contact_import.target_list = form.cleaned_data["target_list"]
            contact_import.new_list_name = form.cleaned_data["new_list_name"]
            contact_import.region = form.cleaned_data["region"]
            contact_import.existing = form.cleaned_data["existing"]
            try:
                engine.build_preview(contact_import)
            except ImportFileError as error:
                form.add_error(None, str(error))
            else:
                contact_import.save()
                return self._go("preview", contact_import)
        info = reading.SheetInfo.from_dict(contact_import.detected)
        return self._page(
            request,
            "options.html",
            f"Import {contact_import.file_name}: columns and options",
            2,
            contact_import=contact_import,
            form=form,
            rows=zip(form.column_fields(), _samples(contact_import), contact_import.mapping, strict=True),
            described=info.describe(),
        )

    # 3. Preview and confirm -----------------------------------------------------------------------

    def import_preview_view(self, request, import_id: int) -> TemplateResponse | HttpResponseRedirect:
        self._check(request)
        contact_import = self._import(import_id)
        if contact_import.state == ContactImport.State.UPLOADED and not contact_import.file_removed_at:
            return self._go("options", contact_import)
        if contact_import.state != ContactImport.State.PREVIEWED or contact_import.file_removed_at:
            return self._go("progress", contact_import)
        preview = contact_import.preview
        header = contact_import.detected.get("header", [])
        return self._page(
            request,
            "preview.html",
            f"Import {contact_import.file_name}: preview",
            3,
            contact_import=contact_import,
            preview=preview,
            counts=_preview_counts(contact_import, preview),
            header=header,
            renamed=columns.renamed_extras(contact_import.mapping),
            used_columns=[(e["column"], columns.ROLES[e["role"]]) for e in contact_import.mapping],
            list_label=contact_import.target_list.name if contact_import.target_list else contact_import.new_list_name,
            new_list=bool(contact_import.new_list_name),
        )

    def import_confirm_view(self, request, import_id: int) -> HttpResponseRedirect:
        self._check(request)
        with transaction.atomic():
            contact_import = self._import(import_id, ContactImport.objects.select_for_update())
            if contact_import.file_removed_at:
                self.message_user(request, file_removed_note(contact_import), messages.ERROR)
            elif contact_import.state == ContactImport.State.PREVIEWED:
                if contact_import.new_list_name and not contact_import.target_list_id:
                    contact_import.target_list, _ = ContactList.objects.get_or_create(name=contact_import.new_list_name)
                    contact_import.save(update_fields=["target_list"])
                enqueue_import(contact_import)
            elif contact_import.state == ContactImport.State.FAILED:
                enqueue_import(contact_import)  # carries on after the last saved row
                self.message_user(request, f"Import #{contact_import.pk} resumed.", messages.INFO)
        return self._go("progress", contact_import)

    # 4. Progress, summary and report --------------------------------------------------------------

    def import_progress_view(self, request, import_id: int) -> TemplateResponse | HttpResponseRedirect:
        self._check(request)
        contact_import = check_worker(self._import(import_id))
        waiting = contact_import.state in (ContactImport.State.UPLOADED, ContactImport.State.PREVIEWED)
        if waiting and not contact_import.file_removed_at:
            return self._go("options", contact_import)
        return self._page(
            request,
            "progress.html",
            f"Import {contact_import.file_name}",
            4,
            contact_import=contact_import,
            status=status_of(contact_import),
            lines=summary_lines(contact_import),
        )

    def import_status_view(self, request, import_id: int) -> JsonResponse:
        self._check(request)
        return JsonResponse(status_of(check_worker(self._import(import_id))))

    def import_rejected_view(self, request, import_id: int) -> StreamingHttpResponse:
        self._check(request)
        contact_import = self._import(import_id)
        response = StreamingHttpResponse(rejected_rows_csv(contact_import), content_type="text/csv; charset=utf-8")
        stem = Path(engine.safe_file_name(contact_import.file_name)).stem or "import"
        response["Content-Disposition"] = f'attachment; filename="{stem}-rejected-rows.csv"'
        return response


def _default_region() -> str:
    from django.conf import settings

    return settings.DEFAULT_PHONE_REGION


def _samples(contact_import: ContactImport) -> list[list[str]]:
    """The first few values of each column, to help staff say what it is."""
    info = reading.SheetInfo.from_dict(contact_import.detected)
    by_column: list[list[str]] = [[] for _ in contact_import.mapping]
    rows = reading.iter_rows(contact_import.stored_path, info, contact_import.file_name)
    for count, (_number, cells, _problem) in enumerate(rows):
        if count >= SAMPLE_ROWS:
            break
        for position, values in enumerate(by_column):
            if cells is not None and position < len(cells) and cells[position].strip():
                values.append(cells[position].strip()[:60])
    return by_column


def _preview_counts(contact_import: ContactImport, preview: dict) -> list[tuple[str, int, str]]:
    update = contact_import.existing == ContactImport.Existing.UPDATE
    counts = [
        ("Rows read", preview["rows_read"], ""),
        ("New contacts", preview["new"], "ok"),
        (
            ("Existing contacts to update", preview["updated"], "ok")
            if update
            else ("Existing contacts left as they are", preview["skipped_existing"], "")
        ),
        (
            "Duplicates within the file (the first row is kept)",
            preview["duplicates"],
            _flag(preview["duplicates"], "warn"),
        ),
        ("Invalid rows (will not be imported)", preview["invalid"], _flag(preview["invalid"], "bad")),
    ]
    if preview.get("stay_opted_out"):
        counts.append(("Numbers on the suppression list: they stay opted out", preview["stay_opted_out"], ""))
    if preview.get("opting_out"):
        counts.append(("Contacts the file opts out", preview["opting_out"], ""))
    return counts


def _flag(count: int, kind: str) -> str:
    return kind if count else ""


def status_of(contact_import: ContactImport) -> dict:
    """What the progress page shows, as JSON for its polling."""
    return {
        "state": contact_import.state,
        "state_label": contact_import.get_state_display(),
        "percent": contact_import.percent,
        "rows_total": contact_import.rows_total or 0,
        "rows_read": contact_import.rows_read,
        "last_committed_row": contact_import.last_committed_row,
        "counts": [{"label": label, "value": value} for label, value in summary_lines(contact_import)],
        "rejected": contact_import.rejected,
        "error": contact_import.error,
        "finished": contact_import.state in (ContactImport.State.DONE, ContactImport.State.FAILED),
        "file_removed": file_removed_note(contact_import),
    }


def file_removed_note(contact_import: ContactImport) -> str:
    """What the import's page says once its uploaded file was removed ("" while it is kept)."""
    if not contact_import.file_removed_at:
        return ""
    from django.conf import settings

    when = timezone.localtime(contact_import.file_removed_at).strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"The uploaded file {contact_import.file_name!r} was removed on {when}: uploaded files are kept "
        f"{settings.CONTACT_IMPORT_KEEP_DAYS} days (CONTACT_IMPORT_KEEP_DAYS). This summary stays; "
        "to import the file again, upload it again."
    )


@admin.register(ContactImport)
class ContactImportAdmin(BoundedDeletion, admin.ModelAdmin):
    """Past and running imports; each opens on its progress page. Imports start from Contacts → Import."""

    list_display = ["id", "file_link", "created_by", "created_at", "state", "rows_read", "created", "updated"]
    list_display += ["skipped_existing", "duplicates", "invalid", "target_list"]
    list_filter = ["state", "source"]
    search_fields = ["file_name"]
    list_select_related = ["created_by", "target_list"]
    readonly_fields = [field.name for field in ContactImport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # an import starts from the Contacts page's Import button

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="File", ordering="file_name")
    def file_link(self, contact_import: ContactImport) -> str:
        url = reverse("admin:contacts_contact_import_progress", args=[contact_import.pk])
        return format_html('<a href="{}">{}</a>', url, contact_import.file_name)

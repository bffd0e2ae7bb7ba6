"""The suppression list page: view, search and export it (Marketing too); add a number or import a
suppression file from another tool (for staff who may add to it). Nobody edits or deletes a row
here: only a START reply or the contacts' audited "Opt back in…" action takes a number off."""

from __future__ import annotations

import os
import shutil
import tempfile

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.admin.filters import search_numbers
from contacts.admin.paging import EstimatedCountPaginator
from contacts.exporting import Column, response
from contacts.importing.engine import max_upload_bytes, safe_file_name
from contacts.importing.errors import ImportFileError
from contacts.importing.suppression import import_suppression_file
from contacts.models import Contact, Suppression, mirror_on_contacts
from contacts.phones import normalise_phone
from messaging_site.permissions import denied, model_perm

EXPORT_CHUNK = 5000


class SuppressionAddForm(forms.ModelForm):
    """One number by hand: it goes on the list now, as the staff member's."""

    class Meta:
        model = Suppression
        fields = ["number", "reason"]
        help_texts = {"number": "A phone number, e.g. +14155550123 (read in DEFAULT_PHONE_REGION without +)."}

    def clean_number(self) -> str:
        return normalise_phone(self.cleaned_data["number"], field="number")


class SuppressionFileForm(forms.Form):
    file = forms.FileField(
        label="Suppression file",
        help_text="CSV, TSV or Excel (.xlsx). One number a row, in a column named phone / mobile / number "
        "(or the first column; a header row is optional). Optional columns: reason, and date "
        "(2024-05-31 or 2024-05-31T10:00:00Z; without one the number counts from now).",
    )
    region = forms.CharField(
        label="Country for numbers without +",
        max_length=2,
        initial=settings.DEFAULT_PHONE_REGION,
        widget=forms.TextInput(attrs={"size": 4}),
        help_text="Two letters, e.g. US or GB: how 07911 123456 is read.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Kept on every number whose row gives none, e.g. “Unsubscribed in our old SMS tool”.",
    )

    def clean_region(self) -> str:
        region = self.cleaned_data["region"].strip().upper()
        if len(region) != 2 or not region.isalpha():
            raise forms.ValidationError(f"region: {region!r} is not a two-letter country code such as US.")
        return region

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > max_upload_bytes():
            limit = max_upload_bytes() // (1024 * 1024)
            raise forms.ValidationError(
                f"file: {upload.name!r} is {upload.size / 1024 / 1024:,.0f} MB; at most {limit} MB "
                "(CONTACT_IMPORT_MAX_MB)."
            )
        return upload


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["number", "opted_out", "source", "reason", "channel", "who", "contact_link"]
    list_filter = ["source"]
    search_fields = ["number"]
    search_help_text = "The start of a number (+1 415, 1415) or a whole one in any spelling (07911 123456)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    form = SuppressionAddForm
    readonly_fields = ["number", "suppressed_at", "source", "reason", "channel", "who"]
    change_list_template = "admin/contacts/suppression/change_list.html"

    def get_fields(self, request, obj=None) -> list[str]:
        return ["number", "reason"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record of what a person asked for: never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # only START or "Opt back in…" (with its reason, on the contact) lift it

    def get_search_results(self, request, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return search_numbers(queryset, search_term)

    @admin.display(description="Opted out", ordering="suppressed_at")
    def opted_out(self, row: Suppression) -> str:
        return timezone.localtime(row.suppressed_at).strftime("%Y-%m-%d %H:%M %Z")

    @admin.display(description="Who")
    def who(self, row: Suppression) -> str:
        return row.by_label or "—"

    @admin.display(description="Contact")
    def contact_link(self, row: Suppression) -> str:
        if row.number not in self._contacts_shown:
            return "—"  # deleted, or never a contact
        url = reverse("admin:contacts_contact_changelist")
        return format_html('<a href="{}?q={}">view</a>', url, row.number)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # Which of the page's numbers still have a contact: one query for the page, not one a row.
        numbers = [row.number for row in changelist.result_list]
        self._contacts_shown = set(Contact.objects.filter(phone__in=numbers).values_list("phone", flat=True))
        return changelist

    def save_model(self, request, obj: Suppression, form, change: bool) -> None:
        obj.suppressed_at = timezone.now()
        obj.source = Suppression.Source.STAFF
        obj.by, obj.by_label = request.user, request.user.get_username()
        obj.reason = obj.reason or f"Added by {request.user.get_username()}"
        super().save_model(request, obj, form, change)
        mirror_on_contacts(Contact.objects.filter(phone=obj.number))

    # --- export and import ---------------------------------------------------------------------------

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("export.csv", view(self.export_view), name="contacts_suppression_export"),
            path("import/", view(self.import_view), name="contacts_suppression_import"),
            *super().get_urls(),
        ]

    def export_view(self, request) -> StreamingHttpResponse:
        """The list as the page shows it (same search and filter), streamed as CSV in constant memory."""
        if not self.has_view_permission(request):
            raise denied(model_perm(Suppression, "view"), "export the suppression list")
        rows = self.get_changelist_instance(request).queryset.order_by("id")
        fields = ["number", "suppressed_at", "reason", "source", "channel", "by_label"]
        columns = [
            Column("number", trusted=True),
            Column(f"opted out ({timezone.get_current_timezone_name()})"),
            Column("reason"),
            Column("source"),
            Column("channel"),
            Column("who"),
        ]
        values = rows.values_list(*fields).iterator(chunk_size=EXPORT_CHUNK)
        return response((list(row) for row in values), columns, "csv", "suppression-list")

    def import_view(self, request) -> TemplateResponse | HttpResponseRedirect:
        if not self.has_add_permission(request):
            raise denied(model_perm(Suppression, "add"), "import a suppression file")
        form = SuppressionFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = self._import(request, form)
            except ImportFileError as error:
                form.add_error("file", f"file: {error}")
            else:
                self.message_user(request, result.summary(), messages.WARNING if result.invalid else messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:contacts_suppression_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a suppression file",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/contacts/suppression/import.html", context)

    def _import(self, request, form: SuppressionFileForm):
        upload = form.cleaned_data["file"]
        name = safe_file_name(upload.name)
        reason = form.cleaned_data["reason"] or f"Suppression file {name}"
        folder = tempfile.mkdtemp(prefix="suppression-")
        try:
            stored = os.path.join(folder, name)
            with open(stored, "wb") as out:
                for piece in upload.chunks():
                    out.write(piece)
            return import_suppression_file(
                stored, name, region=form.cleaned_data["region"], reason=reason, by=request.user
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_import": self.has_add_permission(request),
            "title": "Suppression list: numbers never messaged",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)

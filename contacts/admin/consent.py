"""Consent records: who texted a keyword to join which list, on which channel, with which message and
when (Marketing reads them; nobody edits or deletes one: they are the proof of consent)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone

from contacts.admin.filters import search_numbers
from contacts.admin.paging import EstimatedCountPaginator
from contacts.models import Consent


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["number", "keyword", "joined_list", "channel", "outcome", "texted"]
    search_fields = ["number"]
    search_help_text = "The start of a number (+1 415, 1415) or a whole one in any spelling (07911 123456)."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    fields = [
        "number", "contact", "keyword", "list_name", "contact_list", "channel", "message_id", "provider_message_id",
        "texted", "double_opt_in", "outcome", "confirmed", "confirmed_by_message_id",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # only a texted keyword makes one

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the proof of consent is kept

    def get_search_results(self, request, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return search_numbers(queryset, search_term)

    @admin.display(description="List", ordering="list_name")
    def joined_list(self, row: Consent) -> str:
        return row.list_name

    @admin.display(description="Texted", ordering="texted_at")
    def texted(self, row: Consent) -> str:
        return local(row.texted_at)

    @admin.display(description="Confirmed (YES)", ordering="confirmed_at")
    def confirmed(self, row: Consent) -> str:
        return local(row.confirmed_at)

    @admin.display(description="Outcome")
    def outcome(self, row: Consent) -> str:
        return row.outcome

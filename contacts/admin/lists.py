from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html

from contacts.models import ContactList, ListMembership


def member_count_subquery() -> Coalesce:
    """Each list's member count, computed only for the lists on the page (no GROUP BY over all memberships)."""
    counted = (
        ListMembership.objects.filter(contact_list=OuterRef("pk"))
        .order_by()
        .values("contact_list")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "contacts_link", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["member_count", "contacts_link", "created_at"]
    fields = ["name", "description", "member_count", "contacts_link", "created_at"]

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(member_count=member_count_subquery())

    @admin.display(description="Contacts", ordering="member_count")
    def member_count(self, contact_list: ContactList) -> str:
        count = getattr(contact_list, "member_count", None)  # None on the add page
        return "—" if count is None else f"{count:,}"

    @admin.display(description="")
    def contacts_link(self, contact_list: ContactList) -> str:
        if contact_list.pk is None:
            return "—"
        url = reverse("admin:contacts_contact_changelist") + f"?list={contact_list.pk}"
        return format_html('<a href="{}">View its contacts</a>', url)

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from contacts.admin.contacts import local_time
from contacts.admin.deletion import BoundedDeletion
from contacts.models import ContactList


@admin.register(ContactList)
class ContactListAdmin(BoundedDeletion, admin.ModelAdmin):
    list_display = ["name", "members", "contacts_link", "created"]
    search_fields = ["name"]
    readonly_fields = ["members", "contacts_link", "created"]
    fields = ["name", "description", "members", "contacts_link", "created"]

    # The count is ContactList.member_count, kept by the database as memberships come and go: the
    # page costs the same for lists of ten contacts and of a million.
    @admin.display(description="Contacts", ordering="member_count")
    def members(self, contact_list: ContactList) -> str:
        return f"{contact_list.member_count:,}"

    @admin.display(description="Created", ordering="created_at")
    def created(self, contact_list: ContactList) -> str:
        return local_time(contact_list.created_at)

    @admin.display(description="")
    def contacts_link(self, contact_list: ContactList) -> str:
        if contact_list.pk is None:
            return "—"
        url = reverse("admin:contacts_contact_changelist") + f"?list={contact_list.pk}"
        return format_html('<a href="{}">View its contacts</a>', url)

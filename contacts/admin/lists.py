from __future__ import annotations

from django.contrib import admin

from contacts.models import ContactList


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    search_fields = ["name"]

    @admin.display(description="Contacts")
    def member_count(self, contact_list: ContactList) -> int:
        return contact_list.memberships.count()

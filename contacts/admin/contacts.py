from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from import_export import fields, resources
from import_export.admin import ImportExportModelAdmin

from contacts.models import Contact, ListMembership
from contacts.phones import normalise_phone


class ContactResource(resources.ModelResource):
    """CSV columns: phone, name, and any other column becomes a placeholder value in extra_fields.

    A contact already known by its phone is updated: the columns given replace those values, the
    extra fields not in the file are kept.
    """

    phone = fields.Field(attribute="phone", column_name="phone")

    class Meta:
        model = Contact
        import_id_fields = ["phone"]
        fields = ["phone", "name", "extra_fields", "opted_out_at"]
        skip_unchanged = True

    def before_import_row(self, row, **kwargs) -> None:
        row["phone"] = normalise_phone(row.get("phone"), field="phone")

    def import_instance(self, instance: Contact, row, **kwargs) -> None:
        super().import_instance(instance, row, **kwargs)
        known = set(self.fields) | {"id"}
        extras = {name: value for name, value in row.items() if name not in known and name and value not in (None, "")}
        if extras:
            instance.extra_fields = {**(instance.extra_fields or {}), **extras}


class MembershipInline(admin.TabularInline):
    model = ListMembership
    extra = 0
    autocomplete_fields = ["contact_list"]
    readonly_fields = ["added_at"]


@admin.register(Contact)
class ContactAdmin(ImportExportModelAdmin):
    resource_classes = [ContactResource]
    list_display = ["phone", "name", "opted_out_at", "created_at"]
    list_filter = [("opted_out_at", admin.EmptyFieldListFilter), "lists"]
    search_fields = ["phone", "name"]
    readonly_fields = ["opted_out_at", "opt_out_reason", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["opt_out", "opt_in"]
    show_full_result_count = False  # COUNT(*) over a million contacts on every page is slow

    @admin.action(description="Opt out (never message again)")
    def opt_out(self, request, queryset) -> None:
        changed = queryset.filter(opted_out_at__isnull=True).update(
            opted_out_at=timezone.now(), opt_out_reason=f"Opted out by {request.user.get_username()}"
        )
        self.message_user(request, f"{changed} contact(s) opted out.", messages.SUCCESS)

    @admin.action(description="Opt back in")
    def opt_in(self, request, queryset) -> None:
        changed = queryset.filter(opted_out_at__isnull=False).update(opted_out_at=None, opt_out_reason="")
        self.message_user(request, f"{changed} contact(s) opted back in.", messages.SUCCESS)

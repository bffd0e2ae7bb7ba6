from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin

from contacts.admin import bulk_actions
from contacts.admin.deletion import BoundedDeletion, as_queryset, capped_count
from contacts.admin.filters import ContactListFilter, OriginFilter, SubscriptionFilter, search_contacts
from contacts.admin.imports import ContactImportMixin
from contacts.admin.paging import EstimatedCountPaginator, count_or_estimate
from contacts.admin.panels import contact_panels, rendered_panels
from contacts.exporting import FORMATS, export_contacts
from contacts.models import Contact, ContactList, ListMembership, OptInRecord, Suppression
from messaging_site import confirm
from messaging_site.permissions import denied, model_perm


def suppression_kept(opted_out: int) -> str:
    numbers = "Its number opted out" if opted_out == 1 else f"{opted_out:,} of these numbers opted out"
    return (
        f"{numbers} and stays on the suppression list: never messaged again, and imported or added again "
        "it comes back opted out."
    )


def local_time(moment) -> str:
    """A time in the staff member's zone, with the zone named: 2026-05-01 17:30 BST."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


class ContactChangeList(ChangeList):
    """Django's, with each row's link built from one reverse() rather than one per row."""

    def url_for_result(self, result: Contact) -> str:
        if not hasattr(self, "_change_url_prefix"):
            self._change_url_prefix = reverse(
                "admin:contacts_contact_changelist", current_app=self.model_admin.admin_site.name
            )
        return f"{self._change_url_prefix}{result.pk}/change/"


class RecentMembershipsFormSet(BaseInlineFormSet):
    """Only the lists a contact joined last: a contact in thousands of lists keeps a small page."""

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_recent"):
            recent = super().get_queryset().select_related("contact_list").order_by("-added_at", "-pk")
            self._recent = recent[: MembershipInline.SHOWN]
        return self._recent


class MembershipInline(admin.TabularInline):
    model = ListMembership
    formset = RecentMembershipsFormSet
    extra = 0
    autocomplete_fields = ["contact_list"]
    readonly_fields = ["added_at"]
    verbose_name = "list"
    verbose_name_plural = "Lists this contact is in"
    SHOWN = 20  # each row's list chooser costs a query

    def get_formset(self, request, obj: Contact | None = None, **kwargs):
        total = obj.memberships.count() if obj is not None else 0
        if total > self.SHOWN:  # this instance serves this request only
            self.verbose_name_plural = (
                f"Lists this contact is in: {total:,}, the {self.SHOWN} it joined last shown "
                "(“Remove from list…” on Contacts takes it out of others)"
            )
        return super().get_formset(request, obj, **kwargs)


class OptInRecordInline(admin.TabularInline):
    """The history of re-subscribing: who, when, why, and the opt-out it lifted. Never edited."""

    model = OptInRecord
    extra = 0
    can_delete = False
    fields = ["when", "source", "by_whom", "reason", "opted_out_before", "opt_out_reason_then"]
    readonly_fields = fields
    verbose_name_plural = "Opted back in"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # only the "Opt back in" action (with its reason) or a START reply add one

    @admin.display(description="Opted back in at")
    def when(self, record: OptInRecord) -> str:
        return local_time(record.opted_in_at)

    @admin.display(description="By")
    def by_whom(self, record: OptInRecord) -> str:
        return record.by_label or "the contact (reply)"

    @admin.display(description="Opt-out reason then")
    def opt_out_reason_then(self, record: OptInRecord) -> str:
        return record.previous_opt_out_reason or "—"

    @admin.display(description="Had opted out at")
    def opted_out_before(self, record: OptInRecord) -> str:
        return local_time(record.previous_opted_out_at)


@admin.register(Contact)
class ContactAdmin(
    BoundedDeletion, ContactImportMixin, ImportExportModelAdmin
):  # the import pages: contacts/admin/imports.py
    change_form_template = "admin/contacts/contact/change_form.html"
    paginator = EstimatedCountPaginator
    show_full_result_count = False  # COUNT(*) over a million contacts on every page is slow
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would be as slow
    list_display = ["phone", "name", "subscription", "created"]
    list_filter = [SubscriptionFilter, OriginFilter, ContactListFilter]
    search_fields = ["phone", "name"]  # shows the box; get_search_results does the searching
    search_help_text = (
        "A number finds phones starting with it (+44 7911, 447911, or a whole 07911 123456); "
        "words find names containing them."
    )
    fieldsets = [
        (None, {"fields": ["phone", "name", "extra_fields"]}),
        ("Subscription", {"fields": ["subscription", "opt_out_reason"]}),
        ("Record", {"fields": ["origin", "created", "updated"]}),
    ]
    readonly_fields = ["subscription", "opt_out_reason", "origin", "created", "updated"]
    inlines = [MembershipInline, OptInRecordInline]
    actions = ["add_to_list", "remove_from_list", "create_list", "opt_out", "opt_in"]

    class Media:
        css = {"all": ["contacts/contacts-admin.css"]}

    def has_export_permission(self, request) -> bool:
        return False  # our own streamed export (the buttons above the list) replaces django-import-export's

    def export_action(self, request, **kwargs):
        """django-import-export's export page, which the streamed export replaces: nothing here."""
        raise Http404("Contacts are exported with the CSV and XLSX buttons above the list.")

    def get_urls(self) -> list:
        export = path(
            "export/<str:file_format>/",
            self.admin_site.admin_view(self.export_view),
            name="contacts_contact_export",
        )
        # The pages of panels other apps add (the campaigns app's message timeline: contacts/admin/panels.py).
        panel_urls = [url for panel in contact_panels() for url in panel.urls(self)]
        return [export, *panel_urls, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contact = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if contact is not None:
            extra["panels"] = rendered_panels(request, contact)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def export_view(self, request, file_format: str) -> StreamingHttpResponse:
        """The contacts the changelist shows (same filters and search) as CSV or XLSX."""
        if not self.has_view_permission(request):
            raise denied(model_perm(Contact, "view"), "export contacts")
        if file_format not in FORMATS:
            raise Http404(f"format: {file_format!r} is not one of {', '.join(FORMATS)}.")
        contacts = self.get_changelist_instance(request).get_queryset(request)
        return export_contacts(contacts, file_format)

    def get_changelist(self, request, **kwargs) -> type[ChangeList]:
        return ContactChangeList

    def action_checkbox(self, contact: Contact) -> str:
        # Django renders a widget template for each row's box, a third of the page's time at 100
        # rows; this is the same HTML, written directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="Select {}">',
            helpers.ACTION_CHECKBOX_NAME,
            contact.pk,
            contact,
        )

    def get_search_results(self, request, queryset, search_term: str) -> tuple[QuerySet, bool]:
        return search_contacts(queryset, search_term), False

    def get_deleted_objects(self, objs, request):
        """The delete pages say that an opted-out number outlives its contact."""
        lines, model_count, perms_needed, refused = super().get_deleted_objects(objs, request)
        chosen = as_queryset(self, objs).order_by().values("pk")
        opted_out = capped_count(Contact.objects.filter(pk__in=chosen).suppressed())
        if opted_out:
            lines = [*lines, suppression_kept(opted_out)]
        return lines, model_count, perms_needed, refused

    def get_inlines(self, request, obj: Contact | None) -> list:
        # The opt-in history only where there is one (an empty table would puzzle).
        return self.inlines if obj is not None and obj.opt_ins.exists() else [MembershipInline]

    @admin.display(description="Created", ordering="created_at")
    def created(self, contact: Contact) -> str:
        return local_time(contact.created_at)

    @admin.display(description="Last changed")
    def updated(self, contact: Contact) -> str:
        return local_time(contact.updated_at)

    @admin.display(description="Subscription", ordering="opted_out_at")
    def subscription(self, contact: Contact) -> str:
        if not contact.is_opted_out:
            return format_html('<span class="contact-subscribed">{}</span>', "Subscribed")
        # The day only, to keep the column narrow; the time and the reason show on hover and on the page.
        when = local_time(contact.opted_out_at)
        hover = f"Opted out {when}: {contact.opt_out_reason}" if contact.opt_out_reason else f"Opted out {when}"
        return format_html('<span class="contact-opted-out" title="{}">Opted out</span> {}', hover, when.split(" ")[0])

    # An action is offered when ANY of its permissions is held (Django's rule), so each of these
    # asks for everything its action needs.
    def has_change_lists_permission(self, request) -> bool:
        """Adding contacts to a list, or taking them off one, changes the list."""
        return self.has_change_permission(request) and request.user.has_perm(model_perm(ContactList, "change"))

    def has_add_lists_permission(self, request) -> bool:
        return self.has_change_permission(request) and request.user.has_perm(model_perm(ContactList, "add"))

    @admin.action(description="Add to list…", permissions=["change_lists"])
    def add_to_list(self, request, queryset) -> TemplateResponse | None:
        return bulk_actions.add_to_list(self, request, queryset)

    @admin.action(description="Remove from list…", permissions=["change_lists"])
    def remove_from_list(self, request, queryset) -> TemplateResponse | None:
        return bulk_actions.remove_from_list(self, request, queryset)

    @admin.action(description="Create a list from the selection…", permissions=["add_lists"])
    def create_list(self, request, queryset) -> TemplateResponse | None:
        return bulk_actions.create_list(self, request, queryset)

    @admin.action(description="Opt out (never message again)…", permissions=["change"])
    def opt_out(self, request, queryset) -> TemplateResponse | None:
        if not confirm.confirmed(request):
            subscribed = queryset.filter(opted_out_at__isnull=True)
            count, _ = count_or_estimate(subscribed)
            return confirm.ask(
                self,
                request,
                subscribed,
                question="Opt these contacts out?",
                consequence="Their numbers go on the suppression list: no campaign or message reaches them again "
                "until each is opted back in with a reason.",
                button="Yes, opt them out",
                count=count,
            )
        reason = f"Opted out by {request.user.get_username()}"
        added = Suppression.add_contacts(queryset, source=Suppression.Source.STAFF, reason=reason, by=request.user)
        self.message_user(
            request,
            f"{added:,} number(s) added to the suppression list; their contacts show opted out.",
            messages.SUCCESS,
        )
        return None

    @admin.action(description="Opt back in… (asks why)", permissions=["change"])
    def opt_in(self, request, queryset) -> TemplateResponse | None:
        return bulk_actions.opt_back_in(self, request, queryset)

"""Bulk actions on contacts that ask a question first: which list, what name, why opt back in.

Each action renders a confirmation page on its first call; the page posts back to the changelist
(same URL, so the same filters and search) with the same selection, and the action then runs on
the queryset Django hands it: the ticked rows, or with "select all N" the whole filtered set. The
work is set-based SQL in the models, so a million contacts cost the same few statements as one.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.db import transaction
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from contacts import jobs
from contacts.admin.filters import describe_filters
from contacts.admin.paging import count_or_estimate
from contacts.models import Contact, ContactList, ListMembership, OptInRecord


class ExistingOrNewListForm(forms.Form):
    """A list that exists, or the name of one to create (exactly one of the two)."""

    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.all(), required=False, label="An existing list", help_text="Type to search."
    )
    new_list_name = forms.CharField(max_length=200, required=False, label="Or a new list named")

    def __init__(self, *args, admin_site: admin.AdminSite, allow_new: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = ListMembership._meta.get_field("contact_list")
        chooser = self.fields["contact_list"]
        chooser.widget = AutocompleteSelect(field, admin_site, attrs={"style": "width: 24em"})
        chooser.queryset = ContactList.objects.all()  # hands the new widget its choices
        if not allow_new:
            del self.fields["new_list_name"]
            self.fields["contact_list"].label = "The list"
            self.fields["contact_list"].required = True

    def clean_new_list_name(self) -> str:
        name = self.cleaned_data["new_list_name"].strip()
        if name and ContactList.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A list named “{name}” already exists: choose it above instead.")
        return name

    def clean(self) -> dict:
        data = super().clean()
        if "new_list_name" in self.fields and not self.errors:
            if bool(data.get("contact_list")) == bool(data.get("new_list_name")):
                raise forms.ValidationError("Choose an existing list or name a new one (one of the two).")
        return data

    def chosen_list(self) -> tuple[ContactList, bool]:
        """(the list, whether it was created now); call inside the action's transaction."""
        if self.cleaned_data.get("contact_list"):
            return self.cleaned_data["contact_list"], False
        return ContactList.objects.create(name=self.cleaned_data["new_list_name"]), True


class NewListForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name of the new list")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if ContactList.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A list named “{name}” already exists: use “Add to list…” for it.")
        return name


class OptInReasonForm(forms.Form):
    reason = forms.CharField(
        min_length=5,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why may we message them again? E.g. “Asked at the shop counter on 3 May to get offers again.” "
        "Kept with your name and the time.",
    )


def confirm_then(
    model_admin: admin.ModelAdmin,
    request,
    queryset: QuerySet,
    form: forms.Form,
    *,
    perform: Callable[[forms.Form], str],
    title: str,
    button: str,
    note: str = "",
) -> TemplateResponse | None:
    """Show the question (again, with errors) until the form is valid; then run ``perform``."""
    if "apply" in request.POST and form.is_valid():
        with transaction.atomic():
            model_admin.message_user(request, perform(form), messages.SUCCESS)
        return None  # back to the changelist, filters kept
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    select_across = request.POST.get("select_across") == "1"
    count, is_estimate = count_or_estimate(queryset)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Contact._meta,
        "title": title,
        "form": form,
        "media": model_admin.media + form.media,
        "button": button,
        "action": request.POST.get("action", ""),
        "selected": selected,
        "select_across": select_across,
        "count": count,
        "is_estimate": is_estimate,
        "filters": describe_filters(request) if select_across else [],
        "note": note,
    }
    return TemplateResponse(request, "admin/contacts/contact/bulk_action.html", context)


def bound(form_class: type[forms.Form], request, **kwargs) -> forms.Form:
    return form_class(request.POST if "apply" in request.POST else None, **kwargs)


def list_link(contact_list: ContactList) -> str:
    url = reverse("admin:contacts_contact_changelist") + f"?list={contact_list.pk}"
    return format_html("<a href='{}'>{}</a>", url, contact_list.name)


def add(contact_list: ContactList, queryset: QuerySet, created: bool) -> str:
    """Add now and say how many; or, for a very big selection, hand it to a worker and say so."""
    made = "new list " if created else "list "
    size, is_estimate = count_or_estimate(queryset)
    if size >= jobs.BACKGROUND_FROM:
        jobs.add_in_background(contact_list, queryset)
        about = "about " if is_estimate else ""
        return format_html(
            "Adding {}{} contacts to {}“{}” in the background: its count on the Contact lists page shows "
            "them when it is done (a minute or two).",
            about,
            f"{size:,}",
            made,
            list_link(contact_list),
        )
    added, already = contact_list.add_contacts(queryset)
    said = format_html("Added {} contact(s) to {}“{}”", f"{added:,}", made, list_link(contact_list))
    return format_html("{}; {} were already in it.", said, f"{already:,}") if already else format_html("{}.", said)


def add_to_list(model_admin, request, queryset: QuerySet) -> TemplateResponse | None:
    def perform(form: ExistingOrNewListForm) -> str:
        contact_list, created = form.chosen_list()
        return add(contact_list, queryset, created)

    # A new list only for those who may create lists; the others choose one that exists.
    may_create = request.user.has_perm("contacts.add_contactlist")
    form = bound(ExistingOrNewListForm, request, admin_site=model_admin.admin_site, allow_new=may_create)
    return confirm_then(
        model_admin,
        request,
        queryset,
        form,
        perform=perform,
        title="Add contacts to a list",
        button="Add to the list",
    )


def remove_from_list(model_admin, request, queryset: QuerySet) -> TemplateResponse | None:
    def perform(form: ExistingOrNewListForm) -> str:
        contact_list, _ = form.chosen_list()
        removed = contact_list.remove_contacts(queryset)
        return format_html("Removed {} contact(s) from “{}”.", f"{removed:,}", list_link(contact_list))

    form = bound(ExistingOrNewListForm, request, admin_site=model_admin.admin_site, allow_new=False)
    return confirm_then(
        model_admin,
        request,
        queryset,
        form,
        perform=perform,
        title="Remove contacts from a list",
        button="Remove from the list",
    )


def create_list(model_admin, request, queryset: QuerySet) -> TemplateResponse | None:
    def perform(form: NewListForm) -> str:
        data = form.cleaned_data
        contact_list = ContactList.objects.create(name=data["name"], description=data["description"])
        return add(contact_list, queryset, created=True)

    form = bound(NewListForm, request)
    return confirm_then(
        model_admin,
        request,
        queryset,
        form,
        perform=perform,
        title="Create a list from these contacts",
        button="Create",
    )


def opt_back_in(model_admin, request, queryset: QuerySet) -> TemplateResponse | None:
    def perform(form: OptInReasonForm) -> str:
        changed = Contact.opt_in(
            queryset, source=OptInRecord.Source.STAFF, reason=form.cleaned_data["reason"], by=request.user
        )
        return f"{changed:,} contact(s) opted back in; the reason is kept on each contact's page."

    form = bound(OptInReasonForm, request)
    opted_out, about = count_or_estimate(queryset.filter(opted_out_at__isnull=False))
    note = f"{'About ' if about else ''}{opted_out:,} of them opted out; only those change."
    return confirm_then(
        model_admin,
        request,
        queryset,
        form,
        perform=perform,
        title="Opt contacts back in",
        button="Opt them back in",
        note=note,
    )

"""The contact changelist's filters and search, each served by an index at a million contacts."""

from __future__ import annotations

import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from contacts.models import ContactList
from contacts.phones import normalise_phone

PHONE_LIKE = re.compile(r"\+?\d{2,}")
PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


class SubscriptionFilter(admin.SimpleListFilter):
    """Subscribed or opted out (served by the index on opted_out_at)."""

    title = "subscription"
    parameter_name = "subscription"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("subscribed", "Subscribed"), ("opted_out", "Opted out")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "subscribed":
            return queryset.filter(opted_out_at__isnull=True)
        if self.value() == "opted_out":
            return queryset.filter(opted_out_at__isnull=False)
        return queryset


class OriginFilter(admin.SimpleListFilter):
    """Contacts that came from a reply to one of our channels (a partial index holds just them)."""

    title = "origin"
    parameter_name = "origin"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("reply", "Came from a reply")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "reply":
            return queryset.filter(origin="reply")
        return queryset


class ContactListFilter(admin.SimpleListFilter):
    """Contacts in one list, chosen by ``?list=<id>``.

    There may be thousands of lists, so the sidebar offers only the newest few (and the one chosen);
    every list's page links here ("View its contacts") and the list page has its own search.
    """

    title = "list"
    parameter_name = "list"
    template = "admin/contacts/contact/list_filter.html"
    shown = 10

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        newest = list(ContactList.objects.order_by("-created_at", "-id").values_list("pk", "name")[: self.shown])
        chosen = self.chosen_list_id()
        if chosen is not None and chosen not in {pk for pk, _ in newest}:
            newest[:0] = ContactList.objects.filter(pk=chosen).values_list("pk", "name")
        return [(str(pk), name) for pk, name in newest]

    def chosen_list_id(self) -> int | None:
        value = self.value()
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise IncorrectLookupParameters(f"list: {value!r} is not a list number.") from None

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        chosen = self.chosen_list_id()
        if chosen is None:
            return queryset
        # One membership per (list, contact), so the join cannot repeat a contact.
        return queryset.filter(memberships__contact_list_id=chosen)


def search_contacts(queryset: QuerySet, term: str) -> QuerySet:
    """A number (any punctuation) finds phones starting with it; anything else finds names containing it.

    "+44 7911", "447911" and "07911 123456" (read in the default region) all use the phone's
    unique index; a name search uses the trigram index on PostgreSQL.
    """
    term = term.strip()
    if not term:
        return queryset
    compact = PHONE_PUNCTUATION.sub("", term)
    if PHONE_LIKE.fullmatch(compact):
        return queryset.filter(phone_matches(term, compact))
    return queryset.filter(name__icontains=term)


def phone_matches(term: str, compact: str, field: str = "phone") -> Q:
    matches = Q(**{f"{field}__startswith": "+" + compact.lstrip("+")})
    try:
        matches |= Q(**{field: normalise_phone(term)})
    except ValidationError:
        pass  # not a whole number: the prefix alone
    return matches


def search_numbers(queryset: QuerySet, term: str, field: str = "number") -> tuple[QuerySet, bool]:
    """A ModelAdmin's get_search_results for a list of numbers: a number's start, or a whole number in
    any spelling (both use the field's unique index); anything that is not a number finds nothing."""
    term = term.strip()
    if not term:
        return queryset, False
    compact = PHONE_PUNCTUATION.sub("", term)
    if not PHONE_LIKE.fullmatch(compact):
        return queryset.none(), False
    return queryset.filter(phone_matches(term, compact, field)), False


def describe_filters(request) -> list[str]:
    """The current search and filters in words, for the confirmation pages."""
    words = []
    if request.GET.get("q"):
        words.append(f"search “{request.GET['q']}”")
    if request.GET.get("subscription") in ("subscribed", "opted_out"):
        words.append("subscribed only" if request.GET["subscription"] == "subscribed" else "opted out only")
    list_id = request.GET.get("list", "")
    if list_id.isdigit():
        name = ContactList.objects.filter(pk=list_id).values_list("name", flat=True).first()
        words.append(f"in list “{name}”" if name else f"in list #{list_id}")
    return words

"""The message log's list at 10,000,000 messages: no full counts, and an index under every filter and sort.

A page reads its 100 rows from an index in the list's order, never the table:
- newest first: the primary key; by campaign or channel: (campaign, id, status) and (channel, id);
  by status: (status, id) for the states few messages are in (scheduled, failed, undelivered,
  unknown, cancelled), the primary key for the others (queued and sending are the newest, delivered,
  read and sent most messages); single and API messages: a partial
  index of their ids (each page finds its ids in an index first: MessageLogPaginator);
- sorts: by id and by number (no index on the message table is added for a sort alone: each one
  costs every send a write);
- a whole number searched finds the messages to it, the start of one those to numbers starting with
  it in number order (the index on ``to``); anything else is a provider's message id, found whole
  (the (channel, provider id) index, once per channel);
- the count is exact up to 10,000 and PostgreSQL's estimate above, shown as "about" (the contacts'
  paginator), and no filter counts its choices.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from contacts.admin.filters import PHONE_LIKE, PHONE_PUNCTUATION
from contacts.admin.paging import EstimatedCountPaginator
from contacts.phones import normalise_phone
from providers.models import Channel

SEARCH_HELP = (
    "A whole number (+44 7911 123456, or 07911 123456) finds the messages to it; the start of one (+44 7911) "
    "finds messages to numbers starting with it, in number order; anything else finds a provider's message id "
    "(SM…), whole."
)


def search_messages(queryset: QuerySet, term: str) -> QuerySet:
    """Messages to a number, to numbers starting with ``term``, or with ``term`` as their provider's id."""
    term = term.strip()
    if not term:
        return queryset
    compact = PHONE_PUNCTUATION.sub("", term)
    if not PHONE_LIKE.fullmatch(compact):
        return queryset.filter(provider_id_is(term))
    whole = whole_number(term)
    if whole is not None:
        return queryset.filter(Q(to=whole) | provider_id_is(compact))  # some providers' ids are digits too
    if queryset.filter(provider_id_is(compact)).exists():
        return queryset.filter(provider_id_is(compact))
    return queryset.filter(number_starts_with(compact))


def whole_number(term: str) -> str | None:
    try:
        return normalise_phone(term)
    except ValidationError:
        return None


def is_number_start(term: str) -> bool:
    """A search the list shows in number order (number_starts_with): digits that are not a whole number."""
    compact = PHONE_PUNCTUATION.sub("", term.strip())
    return bool(PHONE_LIKE.fullmatch(compact)) and whole_number(term) is None


def number_starts_with(digits: str) -> Q:
    """Numbers starting with ``digits``, as a range of the index on ``to`` (with the LIKE, whatever the
    database's collation: numbers are '+' and digits, ordered alike by every collation)."""
    start = "+" + digits.lstrip("+")
    matches = Q(to__startswith=start, to__gte=start)
    stem = start.rstrip("9")
    if stem != "+":  # +4479 is followed by +448; +999 by nothing
        matches &= Q(to__lt=stem[:-1] + str(int(stem[-1]) + 1))
    return matches


def provider_id_is(value: str) -> Q:
    """A provider message id, whole. Naming every channel lets PostgreSQL probe the (channel, provider id)
    index once per channel instead of reading the table."""
    return Q(channel_id__in=list(Channel.objects.values_list("pk", flat=True)), provider_message_id=value)


class MessageLogPaginator(EstimatedCountPaginator):
    """Every page finds its 100 ids first, then their rows. Asked for whole rows newest first, PostgreSQL
    reads the primary key backwards and skips what the filter does not match, expecting a campaign's
    messages spread over the table; they are together, so an old campaign's page read millions of rows.
    Asked for ids alone, it reads them from the index that holds the filter's columns."""

    deferred_from_offset = 0


class MessageLogChangeList(ChangeList):
    """Columns without an index do not sort, even asked by the address. A search by the start
    of a number lists in number order, newest first within a number: the index on ``to`` finds the
    page however many messages match (newest first overall, the matches may lie anywhere in the table)."""

    def get_ordering_field(self, field_name: str):
        # sortable_by only hides the other columns' sort links; a hand-made ?o= must not sort by them either.
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def in_number_order(self) -> bool:
        return ORDER_VAR not in self.params and is_number_start(self.query)

    def get_ordering(self, request, queryset) -> list:
        if self.in_number_order():
            return ["to", "-pk"]
        return super().get_ordering(request, queryset)

    def get_ordering_field_columns(self) -> dict[int, str]:
        if self.in_number_order():
            return {self.list_display.index("to"): "asc"}  # the column headers say so
        return super().get_ordering_field_columns()


class MessageLogList(admin.ModelAdmin):
    """The list part of the message log's admin (campaigns/admin/messages.py has the rest)."""

    paginator = MessageLogPaginator
    show_full_result_count = False  # millions of rows: no COUNT(*) per page
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would read the table
    search_help_text = SEARCH_HELP

    def get_changelist(self, request, **kwargs):
        return MessageLogChangeList

    def get_search_results(self, request, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return search_messages(queryset, search_term), False

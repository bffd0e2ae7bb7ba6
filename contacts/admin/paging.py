"""Counting and paging a million contacts without COUNT(*) over the table on every page."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections, models
from django.utils.functional import cached_property

# Up to this many rows the count is exact (a COUNT over at most this many rows is cheap); above
# it PostgreSQL's planner estimate is shown, as "about N".
EXACT_UP_TO = 10_000
# From this offset on a page first finds its 100 ids in the index alone, then fetches those rows,
# rather than reading and throwing away every row before it.
DEFERRED_FROM_OFFSET = 10_000


def count_or_estimate(queryset: models.QuerySet) -> tuple[int, bool]:
    """(count, is_estimate): exact up to EXACT_UP_TO, the planner's estimate above it on PostgreSQL."""
    capped = queryset.order_by()[: EXACT_UP_TO + 1].count()
    if capped <= EXACT_UP_TO:
        return capped, False
    estimate = planner_estimate(queryset)
    if estimate is None:
        return queryset.count(), False  # SQLite: no estimate, and no million-row tables either
    return max(estimate, capped), True


def planner_estimate(queryset: models.QuerySet) -> int | None:
    """The row count PostgreSQL's planner expects for ``queryset``, or None on other databases."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is exact for small results and an estimate for big ones.

    ``is_estimate`` tells templates to say "about". When the estimate is high the last pages are
    empty rather than an error.
    """

    is_estimate = False
    deferred_from_offset = DEFERRED_FROM_OFFSET

    @cached_property
    def count(self) -> int:
        count, self.is_estimate = count_or_estimate(self.object_list)
        return count

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < self.deferred_from_offset:
            return super().page(number)
        # OFFSET over the primary-key index alone is several times faster than over whole rows; and
        # asked for ids alone, the planner picks an index that holds the filter's columns.
        ids = self.object_list.values("pk")[bottom : bottom + self.per_page]
        return self._get_page(self.object_list.filter(pk__in=models.Subquery(ids)), number, self)

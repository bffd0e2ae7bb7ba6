"""Outcomes added up in memory for one batch, then written in a few upserts (never one per message).

Each place that applies outcomes in batches (sending, receipts, clicks, replies) counts only the
messages its own statement moved, so a receipt, click or reply applied twice is counted once: a
retry moves nothing and adds nothing. The upserts add to the counters (INSERT ... ON CONFLICT DO
UPDATE SET n = n + excluded.n), in key order, at the end of the batch's transaction: a batch rolled
back counts nothing, and two workers adding to the same bucket wait for each other, never deadlock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import phonenumbers
from django.db import connection, models

from campaigns.content.segments import count_segments
from campaigns.models import CampaignBreakdown, CampaignBucket, HourlyOutcomes
from campaigns.models.analytics import COUNTERS

BUCKET_SECONDS = 300  # 5 minutes: the finest step of the campaign page's chart
UNKNOWN_COUNTRY = "ZZ"  # CLDR's "unknown region", as phonenumbers says it
# What the country breakdown counts (clicks and replies as recipients, not every one).
COUNTRY_COUNTERS = {"sent", "delivered", "failed", "unique_clicks", "repliers", "opt_outs"}
VARIANT_COUNTERS = COUNTRY_COUNTERS  # the A/B table's figures (campaigns/variants/results.py)


def bucket_start(at: datetime) -> datetime:
    """The start of the 5-minute bucket ``at`` falls in."""
    return at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)


def hour_start(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def country_of(number: str) -> str:
    """The ISO country of an E.164 number; ZZ when it cannot be told.

    A batch reads thousands of numbers, and parsing each costs more than the batch's upserts: a
    calling code only one country uses (+254) decides alone; a shared one (+1, +44, +7) is parsed
    once per leading digits (the area code that tells Canada from the US, Jersey from the UK)."""
    if not number.startswith("+"):
        return UNKNOWN_COUNTRY
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(number[1 : 1 + length] or 0))
        if regions:
            return regions[0] if len(regions) == 1 else _country_by_leading_digits(number[:8], number, regions[0])
    return UNKNOWN_COUNTRY


def _country_by_leading_digits(prefix: str, number: str, main: str) -> str:
    """The country the leading digits say; the calling code's main country (GB for +44) for a
    number no country lists (a test or fictional range)."""
    found = _BY_PREFIX.get(prefix)
    if found is None:
        try:
            found = phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or main
        except phonenumbers.NumberParseException:
            found = main
        if len(_BY_PREFIX) < 100_000:
            _BY_PREFIX[prefix] = found
    return found


_BY_PREFIX: dict[str, str] = {}


@lru_cache(maxsize=4096)
def segments_of(body: str) -> int:
    """What a sent text costs in segments; a template or media-only message counts as one."""
    return max(count_segments(body).segments, 1) if body else 1


@dataclass
class Tally:
    """One batch's outcomes by campaign bucket, channel hour and breakdown key."""

    buckets: dict[tuple[int, datetime, int], Counter] = field(default_factory=lambda: defaultdict(Counter))
    hours: dict[tuple[datetime, int], Counter] = field(default_factory=lambda: defaultdict(Counter))
    breakdowns: dict[tuple[int, str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    meanings: dict[tuple[int, str, str], str] = field(default_factory=dict)

    def add(
        self,
        campaign_id: int | None,
        channel_id: int,
        at: datetime,
        to: str = "",
        variant: int | None = None,
        **counts: int,
    ) -> None:
        """Count outcomes of one message (or several alike) at ``at``; ``to`` files them by country,
        ``variant`` (its A/B position) by variant."""
        campaign = campaign_id or 0
        self.buckets[(campaign, bucket_start(at), channel_id)].update(counts)
        self.hours[(hour_start(at), channel_id)].update(counts)
        if campaign and to:
            by_country = {name: n for name, n in counts.items() if name in COUNTRY_COUNTERS}
            if by_country:
                self.breakdowns[(campaign, CampaignBreakdown.Kind.COUNTRY, country_of(to))].update(by_country)
        if campaign and variant is not None:
            by_variant = {name: n for name, n in counts.items() if name in VARIANT_COUNTERS}
            if by_variant:
                self.breakdowns[(campaign, CampaignBreakdown.Kind.VARIANT, str(variant))].update(by_variant)

    def add_failed_at_sending(self, campaign_id: int | None, variant: int | None, number: int = 1) -> None:
        """A variant's Sent counts every message that went, those that failed at sending too (the
        campaign's own Sent counts only those a provider took); -1 when a receipt shows one a
        provider took after all (it is then counted sent as every other)."""
        if campaign_id and variant is not None:
            self.breakdowns[(campaign_id, CampaignBreakdown.Kind.VARIANT, str(variant))]["sent"] += number

    def add_failure(self, campaign_id: int | None, code: str, meaning: str, number: int = 1) -> None:
        """A failure (or, with -1, one taken back) under its error code, with the code's meaning."""
        if not campaign_id:
            return
        key = (campaign_id, CampaignBreakdown.Kind.ERROR, (code or "")[:32])
        self.breakdowns[key]["failed"] += number
        if meaning:
            self.meanings[key] = meaning[:300]

    def __bool__(self) -> bool:
        return bool(self.buckets or self.breakdowns)

    def save(self) -> None:
        """Add this batch to the stored tallies: one upsert per table (a slice per statement)."""
        upsert(CampaignBucket, ("campaign_id", "start", "channel_id"), self.buckets)
        upsert(HourlyOutcomes, ("hour", "channel_id"), self.hours)
        upsert(CampaignBreakdown, ("campaign_id", "kind", "key"), self.breakdowns, self.meanings)
        self.buckets.clear()
        self.hours.clear()
        self.breakdowns.clear()
        self.meanings.clear()


def upsert(model: type[models.Model], keys: tuple[str, ...], rows: dict, meanings: dict | None = None) -> None:
    """INSERT the rows, adding each counter to the row already there (ON CONFLICT DO UPDATE)."""
    rows = {key: counts for key, counts in rows.items() if any(counts.values())}
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    extra = ("meaning",) if meanings is not None else ()
    columns = (*keys, *extra, *COUNTERS)
    added = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in COUNTERS)
    if extra:
        added += f", meaning = CASE WHEN excluded.meaning <> '' THEN excluded.meaning ELSE {table}.meaning END"
    fields = [model._meta.get_field(name) for name in columns]
    per_statement = max(1, min(1000, (connection.features.max_query_params or 65535) // len(columns)))
    ordered = sorted(rows.items(), key=lambda item: tuple(str(part) for part in item[0]))  # one lock order
    for start in range(0, len(ordered), per_statement):
        chunk = ordered[start : start + per_statement]
        params: list[object] = []
        for key, counts in chunk:
            values = [*key, *([meanings.get(key, "")] if extra else []), *(counts.get(c, 0) for c in COUNTERS)]
            params.extend(f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True))
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES {', '.join([row] * len(chunk))} "  # noqa: S608 - names are ours, every value a parameter
            f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {added}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

"""Which variant each recipient gets, and whether they are in a test's first share: stable, by hash.

A recipient's two buckets (0-99) come from the MD5 of "<campaign id>:<number>": the first 32 bits
choose the variant by the split, the next 32 whether they are in the test's share. The same number
in the same campaign always lands in the same buckets, whichever run, worker or database computes
it (the fan-out's INSERT ... SELECT computes them in SQL; Python here gives the same answer).
A recipient has one message row per campaign (the unique key), so one variant for good.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from campaigns.models import Campaign


def buckets(campaign_id: int, number: str) -> tuple[int, int]:
    """(variant bucket, test bucket) of ``number`` in the campaign, each 0-99."""
    digest = hashlib.md5(f"{campaign_id}:{number}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % 100, int(digest[8:16], 16) % 100


@dataclass(frozen=True)
class Plan:
    """A campaign's split: its variants' positions and shares, and the test's share (None: no test)."""

    shares: tuple[tuple[int, int], ...]  # (position, percent), in order
    test_share: int | None = None

    def variant_for(self, bucket: int) -> int:
        """The variant of a recipient in ``bucket``: the shares laid end to end over 0-99."""
        edge = 0
        for position, share in self.shares:
            edge += share
            if bucket < edge:
                return position
        return self.shares[-1][0]

    def assign(self, campaign_id: int, number: str) -> int | None:
        """The variant a recipient gets at fan-out; None for the rest of a test (they wait for the winner)."""
        variant_bucket, test_bucket = buckets(campaign_id, number)
        if self.test_share is not None and test_bucket >= self.test_share:
            return None
        return self.variant_for(variant_bucket)

    # --- the same in SQL, for the fan-out's INSERT ... SELECT ---------------------------------

    def variant_sql(self, campaign_id: int, number_column: str) -> tuple[str, list]:
        """An SQL expression of the variant (NULL for a test's rest), with its parameters."""
        whens, params, edge = [], [], 0
        for position, share in self.shares[:-1]:
            edge += share
            bucket, bucket_params = bucket_sql(campaign_id, number_column, 0)
            whens.append(f"WHEN {bucket} < {int(edge)} THEN {int(position)}")
            params.extend(bucket_params)
        choice = f"CASE {' '.join(whens)} ELSE {int(self.shares[-1][0])} END"
        if self.test_share is None:
            return choice, params
        held, held_params = self.held_sql(campaign_id, number_column)
        return f"CASE WHEN {held} THEN NULL ELSE {choice} END", [*held_params, *params]

    def held_sql(self, campaign_id: int, number_column: str) -> tuple[str, list]:
        """An SQL condition: the recipient is in a test's rest (always false without a test)."""
        if self.test_share is None:
            return "1 = 0", []
        bucket, params = bucket_sql(campaign_id, number_column, 1)
        return f"{bucket} >= {int(self.test_share)}", params


def bucket_sql(campaign_id: int, number_column: str, part: int) -> tuple[str, list]:
    """Bucket ``part`` (0: variant, 1: test) of the number in ``number_column``, as in ``buckets``."""
    if connection.vendor == "postgresql":
        start = 1 + 8 * part
        digest = f"md5(%s || {number_column})"
        return f"(('x' || substr({digest}, {start}, 8))::bit(32)::bigint %% 100)", [f"{campaign_id}:"]
    return f"variant_bucket(%s || {number_column}, {int(part)})", [f"{campaign_id}:"]


def _sqlite_bucket(seed: str, part: int) -> int:
    digest = hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()
    return int(digest[8 * part : 8 * part + 8], 16) % 100


@receiver(connection_created, dispatch_uid="campaigns.variants.sqlite_bucket")
def _teach_sqlite(sender, connection, **kwargs) -> None:
    """SQLite has no MD5: give each of its connections the bucket function (PostgreSQL uses md5())."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("variant_bucket", 2, _sqlite_bucket, deterministic=True)


def plan_for(campaign: Campaign) -> Plan | None:
    """The campaign's split, or None when it has fewer than two variants (it sends its own content)."""
    shares = tuple(campaign.variants.order_by("position").values_list("position", "share"))
    if len(shares) < 2:
        return None
    return Plan(shares=shares, test_share=campaign.test_share or None)


def preview_variant(campaign: Campaign, number: str) -> int | None:
    """The variant the split gives ``number`` (a test's rest included), for a preview or test send."""
    if campaign.pk is None:
        return None
    plan = plan_for(campaign)
    return plan.variant_for(buckets(campaign.pk, number)[0]) if plan else None

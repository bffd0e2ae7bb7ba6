"""The receipts bench's backlog figure alone: `make bench ARGS=receipt_drain` on PostgreSQL.

The same row as in `make bench ARGS=receipts` (bench/receipt_backlog.py: a million "delivered"
receipts waiting in the durable queue, drained by one worker's batch applier, none lost), without
the gunicorn rounds before it, for working on the applier. RECEIPTS_BACKLOG=100000 makes it quick.
"""

from __future__ import annotations

from bench.receipt_backlog import drain_row
from bench.receipts import unavailable

__all__ = ["run", "unavailable"]


def run() -> list[dict]:
    return [drain_row()]

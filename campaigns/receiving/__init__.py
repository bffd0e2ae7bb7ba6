"""Receiving: what providers told us (receipts, replies), applied in batches by a worker of its own.

Webhooks only take events (providers.events.take: one INSERT) and answer; this package applies
them. Its face:

- ``receive_events``: the RQ job on RECEIVING_QUEUE that rqcron starts every second;
- ``apply_batch``: one batch, claimed, applied and deleted in one transaction;
- ``backlog``: how many events wait and since when (metrics, the dashboard).
"""

from campaigns.receiving.worker import RECEIVING_QUEUE, Batch, apply_batch, receive_events
from providers.events import Backlog, backlog

__all__ = ["RECEIVING_QUEUE", "Backlog", "Batch", "apply_batch", "backlog", "receive_events"]

"""Counters the pipeline keeps as it goes, for Prometheus (campaigns/reports/metrics.py reads them).

One Redis hash: each claim adds its outcomes per channel (sent, failed, unknown, retried, put
back...) and each receipt its state (delivered, read, undelivered). A Redis flush resets them,
which Prometheus's rate() reads as a counter reset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from redis.exceptions import RedisError

from campaigns.pipeline.queueing import connection

log = logging.getLogger(__name__)
COUNTERS = "metrics:messages"  # Redis hash: "<channel id>:<outcome>" -> count


def count_outcomes(channel_id: int, counts: Mapping[str, int]) -> None:
    """Add what a claim (or a receipt) did on a channel to the shared counters; never fails a send."""
    counts = {outcome: n for outcome, n in counts.items() if n}
    if not counts:
        return
    try:
        pipe = connection().pipeline(transaction=False)
        for outcome, number in counts.items():
            pipe.hincrby(COUNTERS, f"{channel_id}:{outcome}", number)
        pipe.execute()
    except RedisError:
        log.debug("message counters not updated (Redis unavailable)", exc_info=True)

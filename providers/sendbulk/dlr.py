"""Delivery reports for sendbulk channels, fetched by polling getdlr (registered in messaging_site/cron.py).

Most sendbulk deployments push nothing: we ask about each sent message, one request each. Each
run asks about a bounded number of messages, oldest-asked first, so a big campaign is worked
through over several runs and no run outlasts its interval. A message still without a final
report after MAX_AGE is left as sent.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import cache

from django.utils import timezone

from providers.base import ChannelError
from providers.events import AwaitingReceipt, DeliveryState, ReceiptEvent, apply_receipt, receipt_book
from providers.models import Channel
from providers.sendbulk.provider import DeliveryReport, SendbulkProvider

log = logging.getLogger(__name__)

PER_RUN = 500  # getdlr requests per run, across all sendbulk channels
MIN_AGE = timedelta(seconds=30)  # networks rarely report sooner: do not ask right away
MAX_AGE = timedelta(days=3)  # after this, no report is coming
POLL_THREADS = 8


@cache
def _pool(pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=POLL_THREADS, thread_name_prefix=f"sendbulk-dlr-{pid}")


def poll_delivery_reports(limit: int = PER_RUN) -> dict[str, int]:
    """Ask the gateways about messages still in ``sent``; record what has become of them."""
    counts = {"asked": 0, "delivered": 0, "undelivered": 0, "waiting": 0}
    channels = {
        channel.pk: channel
        for channel in Channel.objects.filter(provider=SendbulkProvider.code, is_active=True)
        # A deployment that pushes reports to our webhook can be spared the polling.
        if (channel.options or {}).get("poll_delivery_reports", True)
    }
    if not channels:
        return counts
    now = timezone.now()
    due = receipt_book().awaiting(list(channels), now - MAX_AGE, now - MIN_AGE, limit)
    by_channel: dict[int, list[AwaitingReceipt]] = {}
    for message in due:
        by_channel.setdefault(message.channel_id, []).append(message)
    for channel_id, messages in by_channel.items():
        _poll_channel(channels[channel_id], messages, counts)
    return counts


def _poll_channel(channel: Channel, messages: list[AwaitingReceipt], counts: dict[str, int]) -> None:
    provider = SendbulkProvider(channel)
    ids = [m.provider_message_id for m in messages]
    try:
        reports = list(_pool(os.getpid()).map(provider.delivery_report, ids))
    except ChannelError as error:
        log.warning("sendbulk channel %s: delivery reports not fetched: %s", channel.pk, error.reason)
        return
    counts["asked"] += len(ids)
    waiting = []
    for message, report in zip(messages, reports, strict=True):
        if report.status is None:
            waiting.append(message.message_id)
            continue
        _record(channel, message, report)
        counts[report.status] += 1
    counts["waiting"] += len(waiting)
    # Touch the ones still waiting so the next run asks about others first.
    receipt_book().still_waiting(waiting)


def _record(channel: Channel, message: AwaitingReceipt, report: DeliveryReport) -> None:
    apply_receipt(
        ReceiptEvent(
            channel_id=channel.pk,
            provider_message_id=message.provider_message_id,
            state=report.status or DeliveryState.SENT,
            error_code=report.code if report.status == DeliveryState.UNDELIVERED else "",
            error_message=report.description,
        )
    )

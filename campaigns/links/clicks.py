"""Clicks answered (LinkClick rows), folded into their links' first click time and count in batches.

A batch is claimed, applied and deleted in one transaction, so a worker killed mid-batch rolls it
back and the clicks wait for the next run; where the database can, rows another worker holds are
skipped, so two jobs at once never count a click twice; a recipient's links are locked while a
batch tells their first click, so it is counted once too (the unique clicks). rqcron starts a job
every few seconds (messaging_site/cron.py); the rows are the truth, so a Redis flush loses nothing
but queued jobs.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from campaigns.analytics import tally_clicks
from campaigns.models import LinkClick, ShortLink

log = logging.getLogger(__name__)
SLICE_SECONDS = 10.0  # a job applies this long at most, then hands its worker over


def apply_clicks(limit: int | None = None) -> int:
    """Claim up to ``limit`` waiting clicks, count them onto their links, delete them; how many."""
    limit = limit or settings.CLICK_BATCH_SIZE
    waiting = LinkClick.objects.order_by("pk").values_list("pk", "link_id", "clicked_at")
    if connection.features.has_select_for_update_skip_locked:
        waiting = waiting.select_for_update(skip_locked=True)
    with transaction.atomic():
        rows = list(waiting[:limit])
        if not rows:
            return 0
        clicks, first_clickers = _for_tallies(rows)  # read before the UPDATEs set the first click times
        for (count, first), links in _by_count_and_first(rows).items():
            ShortLink.objects.filter(pk__in=links).update(
                click_count=F("click_count") + count, first_click_at=Coalesce(F("first_click_at"), first)
            )
        LinkClick.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        tally_clicks(clicks, first_clickers)
    return len(rows)


def _for_tallies(rows: list[tuple[int, int, datetime]]) -> tuple[list[tuple], set[int]]:
    """Each click as the analytics tallies take it (campaign, channel, number, message, variant,
    time), and the messages none of whose links had been clicked before: their recipients' first clicks.

    Every link of those messages is locked first (in one order, so two batches wait, never
    deadlock) and read as committed once the lock is ours: a batch applying a click on another of
    the recipient's links (or the same one) at the same moment either committed its first click
    before this read, or waits for this batch's; the first click is counted once."""
    links = {
        pk: rest
        for pk, *rest in ShortLink.objects.filter(pk__in={link for _, link, _ in rows}).values_list(
            "pk", "campaign_id", "message__channel_id", "message__to", "message_id", "message__variant"
        )
    }
    messages = {link[3] for link in links.values()}
    recipients_links = ShortLink.objects.filter(message_id__in=messages).order_by("pk")
    if connection.features.has_select_for_update:
        recipients_links = recipients_links.select_for_update(of=("self",))
    clicked_before = {
        message_id for message_id, first in recipients_links.values_list("message_id", "first_click_at") if first
    }
    clicks = [(*links[link], at) for _, link, at in rows if link in links]  # campaign ... variant, time
    return clicks, messages - clicked_before


def _by_count_and_first(rows: list[tuple[int, int, datetime]]) -> dict[tuple[int, datetime], list[int]]:
    """Links grouped by (clicks in this batch, first of them): one UPDATE per group, and in a
    burst most links have one click each."""
    counts: dict[int, int] = defaultdict(int)
    firsts: dict[int, datetime] = {}
    for _, link, at in rows:
        counts[link] += 1
        firsts[link] = min(at, firsts.get(link, at))
    groups: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for link, count in counts.items():
        groups[(count, firsts[link])].append(link)
    return groups


def count_clicks() -> dict[str, int]:
    """The RQ job (rqcron): apply batches until none wait or SLICE_SECONDS have passed."""
    started = time.monotonic()
    applied = batches = 0
    while time.monotonic() - started < SLICE_SECONDS:
        done = apply_clicks()
        if not done:
            break
        applied += done
        batches += 1
    if applied:
        log.info("clicks counted: %d in %d batch(es)", applied, batches)
    return {"batches": batches, "clicks": applied}

"""Campaigns' message counts for pages that list many campaigns, without counting millions while staff wait.

Counting a page of campaigns' messages is a grouped query over up to the whole message table
(seconds at 10,000,000 rows). So the list counts as it is shown only its smallest campaigns, up to
100,000 messages together; each bigger one keeps a tally (CampaignTally) that the list shows, and
a worker counts it again when the list finds it older than the campaign's state allows: a running
or paused campaign's after 10 seconds; a finished one's after 10 minutes in its first week (late
receipts still move it), then after 6 hours. A big campaign never counted yet is shown as being
counted until the worker has. A campaign's own page counts its messages live (campaigns/reports/progress.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Campaign, CampaignTally, OutboundMessage
from campaigns.pipeline.queueing import enqueue_after_commit

LIVE_MAX_AGE = timedelta(seconds=10)
SETTLING_MAX_AGE = timedelta(minutes=10)
SETTLED_MAX_AGE = timedelta(hours=6)
SETTLING_FOR = timedelta(days=7)
ASK_AGAIN_AFTER = timedelta(minutes=1)  # a recount asked for and not done by then (a lost job) is asked again
COUNT_IN_REQUEST_UP_TO = 100_000
NOT_KNOWN_YET = 10**9  # the size of a campaign still fanning out: never counted in the request


def status_counts(campaigns: list[Campaign], now: datetime | None = None) -> dict[int, dict[str, int] | None]:
    """Each campaign's messages by status: the small ones counted now, the others as last counted
    (None: never counted yet). Tallies older than their campaign's state allows go to a worker."""
    now = now or timezone.now()
    found: dict[int, dict[str, int] | None] = dict(count_small(campaigns))
    big = [campaign for campaign in campaigns if campaign.pk not in found]
    tallies = {tally.campaign_id: tally for tally in CampaignTally.objects.filter(campaign__in=big)}
    stale = []
    for campaign in big:
        tally = tallies.get(campaign.pk)
        found[campaign.pk] = tally.counts if is_counted(tally) else None
        if not is_counted(tally) or is_stale(campaign, tally, now):
            stale.append(campaign.pk)
    ask_for_recount(stale, now)
    return found


def is_counted(tally: CampaignTally | None) -> bool:
    return tally is not None and tally.counted_at is not None


def expected_size(campaign: Campaign) -> int:
    """How many messages a count of this campaign reads, as far as the campaign row knows."""
    if campaign.fanned_out_at is not None:
        return campaign.recipient_count
    if campaign.started_at is None:
        return 0  # not started: no messages yet (a draft or scheduled campaign)
    return NOT_KNOWN_YET


def max_age(campaign: Campaign, now: datetime) -> timedelta:
    """How old a tally of this campaign may be: short while it moves, long once receipts have settled."""
    finished = campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
    if not finished or campaign.finished_at is None:
        return LIVE_MAX_AGE
    return SETTLING_MAX_AGE if now - campaign.finished_at < SETTLING_FOR else SETTLED_MAX_AGE


def is_stale(campaign: Campaign, tally: CampaignTally, now: datetime) -> bool:
    return now - tally.counted_at > max_age(campaign, now)


def count_small(campaigns: list[Campaign]) -> dict[int, dict[str, int]]:
    """Count now the smallest of ``campaigns`` while together under COUNT_IN_REQUEST_UP_TO messages."""
    budget, chosen = COUNT_IN_REQUEST_UP_TO, []
    for campaign in sorted(campaigns, key=expected_size):
        budget -= expected_size(campaign)
        if budget < 0:
            break
        chosen.append(campaign.pk)
    return count(chosen) if chosen else {}


def count(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Messages by status for each campaign: one grouped query, an index-only scan of (campaign, status)."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        OutboundMessage.objects.filter(campaign_id__in=campaign_ids)
        .order_by()
        .values_list("campaign_id", "status")
        .annotate(n=Count("*"))
    )
    for campaign_id, status, number in rows:
        found[campaign_id][status] = number
    return {campaign_id: found.get(campaign_id, {}) for campaign_id in campaign_ids}


def save(counts: dict[int, dict[str, int]], counted_at: datetime) -> None:
    tallies = [CampaignTally(campaign_id=pk, counts=n, counted_at=counted_at) for pk, n in counts.items()]
    CampaignTally.objects.bulk_create(
        tallies,
        update_conflicts=True,
        unique_fields=["campaign"],
        update_fields=["counts", "counted_at", "recount_asked_at"],
    )


def ask_for_recount(campaign_ids: list[int], now: datetime) -> None:
    """A worker counts these campaigns again, unless one was asked to lately."""
    if not campaign_ids:
        return
    CampaignTally.objects.bulk_create([CampaignTally(campaign_id=pk) for pk in campaign_ids], ignore_conflicts=True)
    not_asked = Q(recount_asked_at__isnull=True) | Q(recount_asked_at__lt=now - ASK_AGAIN_AFTER)
    waiting = CampaignTally.objects.filter(not_asked, campaign_id__in=campaign_ids)
    asked = list(waiting.values_list("campaign_id", flat=True))
    if asked and waiting.filter(campaign_id__in=asked).update(recount_asked_at=now):
        # The high queue: a worker takes it before a campaign's next chunk; each count is one index scan.
        enqueue_after_commit(recount_job, [(asked,)])


def recount_job(campaign_ids: list[int]) -> int:
    """Count these campaigns' messages again, one campaign a query (each at most an index scan of its rows)."""
    for campaign_id in campaign_ids:
        counted_at = timezone.now()
        save(count([campaign_id]), counted_at)
    return len(campaign_ids)

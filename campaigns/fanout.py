"""Fan-out: turn a campaign's recipients into OutboundMessage rows, then start dispatching them.

Recipients are a bulk job's inline list and/or the contacts of a campaign's lists. Safe to run
twice, or after a crash half-way: every row has a (campaign, recipient_key) unique key and is
inserted with ON CONFLICT DO NOTHING, so a second run adds only what is missing. Rows go in
batches, each its own statement, so a list of a million never sits in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import chain

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns import lifecycle
from campaigns.models import Campaign, OutboundMessage
from campaigns.queueing import CAMPAIGN_QUEUE, chunked, enqueue_after_commit, enqueue_dispatch
from contacts.models import Contact, ListMembership

log = logging.getLogger(__name__)
Status = Campaign.Status
INSERT_BATCH = 1000
LOOKUP_BATCH = 2000  # phones per IN (...) query, well under SQLite's parameter limit
MAX_PARALLEL_DISPATCH = 4


def enqueue_fan_out(campaign_id: int, at: datetime | None = None) -> None:
    """Ask a worker to fan the campaign out once the transaction commits: now, or at ``at``."""
    enqueue_after_commit(fan_out, [(campaign_id,)], at, queue_name=CAMPAIGN_QUEUE)


def fan_out(campaign_id: int) -> int:
    """Create the job's messages and start sending them; returns how many messages it has.

    Does nothing for a job that is not due yet (rescheduled later), cancelled, or already fanned out.
    """
    if not start(campaign_id):
        return 0
    campaign = Campaign.objects.get(pk=campaign_id)
    rows = chain(message_rows(campaign, known_contacts(campaign.inline_recipients)), list_rows(campaign))
    for batch in chunked(rows, INSERT_BATCH):
        OutboundMessage.objects.bulk_create(batch, ignore_conflicts=True)
    now = timezone.now()
    with transaction.atomic():
        count = OutboundMessage.objects.filter(campaign_id=campaign_id).count()
        finished = Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True).update(
            fanned_out_at=now, recipient_count=count, updated_at=now
        )
        if finished:
            chunks = -(-count // settings.SEND_CHUNK_SIZE)
            enqueue_dispatch(campaign_id, parallel=max(1, min(MAX_PARALLEL_DISPATCH, chunks)))
    log.info("campaign %s fanned out into %s messages", campaign_id, count)
    return count


def start(campaign_id: int) -> bool:
    """Move a due scheduled campaign to running; True if it is running and not yet fanned out."""
    now = timezone.now()
    due = Q(status=Status.SCHEDULED) & (Q(scheduled_at__lte=now) | Q(scheduled_at__isnull=True))
    jobs = Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True)
    if lifecycle.hold_late(jobs, now):
        return False  # the late-start guard: a person decides whether it still goes out
    jobs.filter(due).update(status=Status.RUNNING, started_at=now, updated_at=now)
    return jobs.filter(status=Status.RUNNING).exists()


def known_contacts(recipients: list[dict]) -> dict[str, tuple[int, bool]]:
    """Existing contacts by phone: (id, opted out), a few queries for the whole job."""
    phones = sorted({recipient["to"] for recipient in recipients})
    found: dict[str, tuple[int, bool]] = {}
    for batch in chunked(phones, LOOKUP_BATCH):
        rows = Contact.objects.filter(phone__in=batch).values_list("phone", "id", "opted_out_at")
        found.update({phone: (pk, opted_out_at is not None) for phone, pk, opted_out_at in rows})
    return found


def message_rows(campaign: Campaign, contacts: dict[str, tuple[int, bool]]) -> Iterator[OutboundMessage]:
    """One row per recipient; an opted-out contact's row is cancelled at once, never queued."""
    seen: set[str] = set()
    for position, recipient in enumerate(campaign.inline_recipients):
        to = recipient["to"]
        if campaign.duplicates_allowed:
            key = f"{to}#{position}"
        elif to in seen:
            continue
        else:
            key = to
        seen.add(to)
        contact_id, opted_out = contacts.get(to, (None, False))
        variables = {name: value for name, value in recipient.items() if name != "to"}
        yield campaign_message(
            campaign, to, key, contact_id=contact_id, opted_out=opted_out, variables=variables or None
        )


def list_rows(campaign: Campaign) -> Iterator[OutboundMessage]:
    """One row per distinct number across the campaign's lists, less its exclusion lists; opted-out
    contacts cancelled at once.

    A number is one contact, so a contact in two lists (or already given inline) gets one message,
    unless the campaign allows duplicates: then one per list the contact is in.
    """
    if campaign.duplicates_allowed:
        yield from _rows_per_membership(campaign)
        return
    contacts = campaign.audience_contacts().distinct().order_by("id").values_list("id", "phone", "opted_out_at")
    for contact_id, phone, opted_out_at in contacts.iterator(chunk_size=INSERT_BATCH):
        yield campaign_message(campaign, phone, phone, contact_id=contact_id, opted_out=opted_out_at is not None)


def _rows_per_membership(campaign: Campaign) -> Iterator[OutboundMessage]:
    memberships = (
        ListMembership.objects.filter(contact_list__campaigns=campaign, contact__in=campaign.audience_contacts())
        .order_by("contact_id", "contact_list_id")
        .values_list("contact_id", "contact__phone", "contact__opted_out_at", "contact_list_id")
    )
    for contact_id, phone, opted_out_at, list_id in memberships.iterator(chunk_size=INSERT_BATCH):
        key = f"{phone}#L{list_id}"
        yield campaign_message(campaign, phone, key, contact_id=contact_id, opted_out=opted_out_at is not None)


def campaign_message(
    campaign: Campaign,
    to: str,
    key: str,
    *,
    contact_id: int | None,
    opted_out: bool,
    variables: dict | None = None,
) -> OutboundMessage:
    """One recipient's row; an opted-out contact's is cancelled at once, never queued."""
    return OutboundMessage(
        campaign_id=campaign.pk,
        channel_id=campaign.channel_id,
        contact_id=contact_id,
        to=to,
        recipient_key=key,
        variables=variables,
        status=OutboundMessage.Status.CANCELLED if opted_out else OutboundMessage.Status.QUEUED,
        error_code="opted_out" if opted_out else "",
        error_message="The recipient opted out; nothing was sent." if opted_out else "",
        created_by_id=campaign.created_by_id,
        sender_label=campaign.sender_label,
    )


def start_due_campaigns() -> int:
    """Reconciler step: due scheduled campaigns, and running ones whose fan-out Redis lost, get a fan-out job.

    A job is touched when enqueued, so it is not enqueued again before QUEUED_STALE_SECONDS.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    due = Q(status=Status.SCHEDULED, scheduled_at__lte=now) & (
        Q(updated_at__lt=F("scheduled_at")) | Q(updated_at__lte=stale)
    )
    lost = Q(status=Status.RUNNING, updated_at__lte=stale)
    lifecycle.hold_late(Campaign.objects.all(), now)
    jobs = Campaign.objects.filter(due | lost, fanned_out_at__isnull=True)
    jobs = jobs.exclude(pk__in=lifecycle.late(Campaign.objects.all(), now).values("pk"))
    ids = list(jobs.order_by("id").values_list("id", flat=True)[:1000])
    with transaction.atomic():
        Campaign.objects.filter(pk__in=ids).update(updated_at=now)
        for campaign_id in ids:
            enqueue_fan_out(campaign_id)
    return len(ids)

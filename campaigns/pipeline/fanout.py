"""Fan-out: turn a campaign's recipients into OutboundMessage rows, then start dispatching them.

Recipients are a bulk job's inline list and/or the contacts of a campaign's lists. Safe to run
twice, or after a crash half-way: every row has a (campaign, recipient_key) unique key and is
inserted with ON CONFLICT DO NOTHING, so a second run adds only what is missing.

A list audience never passes through Python: the database builds the rows itself with
INSERT ... SELECT (PostgreSQL and SQLite alike), one statement per slice of contact ids, each
committed on its own, so a crash loses at most the slice in progress and a rerun skips the rest.
Inline recipients (a bulk API job's) go in batches of bulk_create.

A fan-out takes turns with the other campaigns' jobs (queueing.Turn): when its turn is over and
other work waits on the campaign queue, it enqueues the rest of itself (where it got to) at the
back of the queue and returns, so a 1-recipient job is never held behind a 10,000-recipient one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from campaigns import variants
from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline import lifecycle
from campaigns.pipeline.queueing import (
    CAMPAIGN_QUEUE,
    Turn,
    campaign_job_id,
    chunked,
    enqueue_after_commit,
    enqueue_dispatch,
    parallel_for,
)
from campaigns.pipeline.sending import cancel_told
from campaigns.whatsapp.fallback import divert_known_off_whatsapp
from contacts.models import Contact, ListMembership, Suppression
from messaging_site.logs import logged_job

log = logging.getLogger(__name__)
Status = Campaign.Status
INSERT_BATCH = 1000
LOOKUP_BATCH = 2000  # phones per IN (...) query, well under SQLite's parameter limit
INLINE_SLICE = 1000  # inline recipients between two looks at whether the turn is over


def enqueue_fan_out(
    campaign_id: int, at: datetime | None = None, *, inline_from: int = 0, contacts_from: int | None = None
) -> None:
    """Ask a worker to fan the campaign out once the transaction commits: now, or at ``at``.

    ``inline_from`` and ``contacts_from`` say where an earlier turn of it got to."""
    resume = {"inline_from": inline_from, "contacts_from": contacts_from} if inline_from or contacts_from else None
    job_id = lambda: campaign_job_id(campaign_id, "fan-out")  # noqa: E731
    enqueue_after_commit(fan_out, [(campaign_id,)], at, CAMPAIGN_QUEUE, job_id, kwargs=resume)


def _fan_out_fields(campaign_id: int, inline_from: int = 0, contacts_from: int | None = None) -> dict[str, object]:
    """The log fields of a fan-out: its campaign, and where it carries on from when not the start."""
    where = {"inline_from": inline_from or None, "contacts_from": contacts_from}
    return {"campaign": campaign_id, **{name: value for name, value in where.items() if value is not None}}


@logged_job("fan_out", _fan_out_fields)
def fan_out(campaign_id: int, inline_from: int = 0, contacts_from: int | None = None) -> int:
    """Create the job's messages and start sending them; returns how many messages it has (0
    when its turn ended first: the rest of it is then queued, from where it got to).

    Does nothing for a job that is not due yet (rescheduled later), cancelled, or already fanned out.
    """
    if not start(campaign_id):
        return 0
    campaign = Campaign.objects.get(pk=campaign_id)
    turn = Turn(campaign_id)
    if contacts_from is None:
        stopped_at = insert_inline(campaign, inline_from, turn)
        if stopped_at is not None:
            return carry_on_later(campaign_id, inline_from=stopped_at)
    if campaign.kind == Campaign.Kind.CAMPAIGN or campaign.lists.exists():
        stopped_at = insert_audience(campaign, contacts_from, turn)
        if stopped_at is not None:
            return carry_on_later(campaign_id, contacts_from=stopped_at)
    return finish(campaign_id)


def finish(campaign_id: int) -> int:
    """The fan-out is complete: record it, and start dispatching (once, however many runs get here).

    Not for a campaign paused meanwhile (resume fans it out again, skipping the rows in) or
    cancelled (the rows that went in since are cancelled too). Before dispatching starts,
    recipients known not to be on WhatsApp are given their SMS fallback instead (campaigns/whatsapp/)."""
    divert_known_off_whatsapp(campaign_id)
    count = OutboundMessage.objects.filter(campaign_id=campaign_id).count()
    refresh_statistics(count)
    now = timezone.now()
    with transaction.atomic():
        finished = Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True, status=Status.RUNNING).update(
            fanned_out_at=now, recipient_count=count, updated_at=now
        )
        if finished:
            enqueue_dispatch(campaign_id, parallel=parallel_for(count))
            variants.schedule_winner(campaign_id, now)  # an A/B test's rest waits for its winner
        else:
            cancel_if_cancelled(campaign_id)
    log.info("campaign %s fanned out into %s messages", campaign_id, count)
    return count


def carry_on_later(campaign_id: int, **where: int) -> int:
    """The turn is over with recipients left: the rest goes to the back of the queue.

    The heartbeat keeps the reconciler from taking the fan-out for a lost one (start_due_campaigns)
    while it waits its next turn."""
    with transaction.atomic():
        if heartbeat(campaign_id):
            enqueue_fan_out(campaign_id, **where)
        else:
            cancel_if_cancelled(campaign_id)
    return 0


def heartbeat(campaign_id: int) -> bool:
    """Touch a running campaign; False once it was paused or cancelled (its fan-out then stops)."""
    return bool(Campaign.objects.filter(pk=campaign_id, status=Status.RUNNING).update(updated_at=timezone.now()))


def cancel_if_cancelled(campaign_id: int) -> None:
    """Rows a fan-out put in after its campaign was cancelled are cancelled with it."""
    scope = OutboundMessage.objects.filter(campaign_id=campaign_id, campaign__status=Status.CANCELLED)
    cancel_told(scope, status=OutboundMessage.Status.QUEUED)  # the reason: sending.CAMPAIGN_CANCELLED


def insert_inline(campaign: Campaign, start_at: int, turn: Turn) -> int | None:
    """Insert the inline recipients' rows from ``start_at``, a slice at a time; where it stopped
    when the turn ended first, or the campaign stopped running (None once all are in)."""
    recipients = campaign.inline_recipients
    for low in range(start_at, len(recipients), INLINE_SLICE):
        if low > start_at and (not heartbeat(campaign.pk) or turn.over()):
            return low
        rows = message_rows(campaign, low, low + INLINE_SLICE)
        for batch in chunked(rows, INSERT_BATCH):
            OutboundMessage.objects.bulk_create(batch, ignore_conflicts=True)
    return None


ANALYZE_FROM_ROWS = 50_000


def refresh_statistics(rows: int) -> None:
    """After a big fan-out (``rows`` messages), bring PostgreSQL's statistics of the message table up to date.

    Autovacuum gets there in its own time; until then the planner believes the table as it was
    (perhaps empty) and plans the pipeline's claims and outcome writes as scans of what is now a
    million rows. ANALYZE reads a fixed sample, a second or two however large the table.
    """
    if rows >= ANALYZE_FROM_ROWS and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(OutboundMessage._meta.db_table)}")


def start(campaign_id: int) -> bool:
    """Move a due scheduled campaign to running; True if it is running and not yet fanned out."""
    now = timezone.now()
    due = Q(status=Status.SCHEDULED) & (Q(scheduled_at__lte=now) | Q(scheduled_at__isnull=True))
    jobs = Campaign.objects.filter(pk=campaign_id, fanned_out_at__isnull=True)
    if lifecycle.hold_late(jobs, now):
        return False  # the late-start guard: a person decides whether it still goes out
    jobs.filter(due).update(status=Status.RUNNING, started_at=now, updated_at=now)
    return jobs.filter(status=Status.RUNNING).exists()


def known_contacts(recipients: list[dict]) -> dict[str, tuple[int | None, bool]]:
    """Recipients' contacts by phone, and whether each number is suppressed: (id or None,
    suppressed), a few queries for the whole job. A suppressed number with no contact is listed too."""
    phones = sorted({recipient["to"] for recipient in recipients})
    found: dict[str, tuple[int | None, bool]] = {}
    for batch in chunked(phones, LOOKUP_BATCH):
        suppressed = Suppression.numbers_among(batch)
        found.update({phone: (None, True) for phone in suppressed})
        rows = Contact.objects.filter(phone__in=batch).values_list("phone", "id")
        found.update({phone: (pk, phone in suppressed) for phone, pk in rows})
    return found


def message_rows(campaign: Campaign, low: int = 0, high: int | None = None) -> Iterator[OutboundMessage]:
    """One row per recipient of inline_recipients[low:high]; an opted-out contact's row is
    cancelled at once, never queued. A number repeated within the slice keeps its first row; one
    repeated across slices has the same recipient key, so the insert skips it (ON CONFLICT)."""
    recipients = campaign.inline_recipients[low:high]
    contacts = known_contacts(recipients)
    plan = variants.plan_for(campaign)
    seen: set[str] = set()
    for position, recipient in enumerate(recipients, start=low):
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
            campaign, to, key, contact_id=contact_id, opted_out=opted_out, variables=variables or None, plan=plan
        )


def insert_audience(campaign: Campaign, start_at: int | None = None, turn: Turn | None = None) -> int | None:
    """Insert the list audience's rows with INSERT ... SELECT, a slice of contact ids at a time,
    from contact id ``start_at`` on; the contact id it stopped at when the turn ended first, or
    the campaign stopped running (None once all are in).

    One row per number (a contact is one number) in any of the campaign's lists and none of its
    exclusion lists, or one per list membership when the campaign allows duplicates; the rows of
    numbers on the suppression list (joined by number) are cancelled at once.

    Each slice touches the campaign (a heartbeat), so the reconciler does not take a long fan-out
    for a lost one and start a second beside it; a fan-out that did die is started again
    QUEUED_STALE_SECONDS after its last slice, and its rows already in are skipped (ON CONFLICT).
    """
    bounds = Contact.objects.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return None
    sql, params = _audience_insert_sql(campaign)
    step = settings.CAMPAIGN_AUDIENCE_SLICE
    first = bounds["low"] if start_at is None else start_at
    for low in range(first, bounds["high"] + 1, step):
        if low > first and turn is not None and turn.over():
            return low
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, low, low + step])
            if not heartbeat(campaign.pk):
                return low + step  # paused or cancelled meanwhile: this slice is in, the rest waits
    return None


def _audience_insert_sql(campaign: Campaign) -> tuple[str, list]:
    """The INSERT ... SELECT for one slice (its last two parameters: the slice's contact ids)."""
    quote = connection.ops.quote_name
    message, contact = OutboundMessage._meta, Contact._meta
    membership = ListMembership._meta.db_table
    lists, excluded = Campaign.lists.through._meta.db_table, Campaign.exclude_lists.through._meta.db_table
    now = timezone.now()
    plan = variants.plan_for(campaign)
    # An A/B campaign's rows carry their variant; a test's rest waits, scheduled with no time, for the winner.
    variant = plan.variant_sql(campaign.pk, "c.phone") if plan else ("NULL", [])
    held, held_params = plan.held_sql(campaign.pk, "c.phone") if plan else ("1 = 0", [])
    computed = {
        "campaign_id": ("%s", [campaign.pk]),
        "channel_id": ("%s", [campaign.channel_id]),
        "contact_id": ("c.id", []),
        "to": ("c.phone", []),
        "recipient_key": ("c.phone || '#L' || CAST(m.contact_list_id AS TEXT)", [])
        if campaign.duplicates_allowed
        else ("c.phone", []),
        "status": (
            f"CASE WHEN s.id IS NOT NULL THEN %s WHEN {held} THEN %s ELSE %s END",
            [Status_.CANCELLED, *held_params, Status_.SCHEDULED, Status_.QUEUED],
        ),
        "variant": variant,
        "error_code": ("CASE WHEN s.id IS NULL THEN '' ELSE %s END", ["opted_out"]),
        "error_message": ("CASE WHEN s.id IS NULL THEN '' ELSE %s END", [OPTED_OUT_REASON]),
        "created_by_id": ("%s", [campaign.created_by_id]),
        "sender_label": ("%s", [campaign.sender_label]),
        "created_at": ("%s", [now]),
        "updated_at": ("%s", [now]),
    }
    columns, values, params = [], [], []
    for field in message.concrete_fields:
        if field.primary_key:
            continue
        expression, field_params = computed.get(field.attname) or ("%s", [field.get_default()])
        if expression == "%s":
            field_params = [field.get_db_prep_save(field_params[0], connection)]
        columns.append(quote(field.column))
        values.append(expression)
        params.extend(field_params)
    # Membership in any of the campaign's lists: EXISTS gives one row per contact; with duplicates
    # allowed, the join gives one per membership.
    # The suppression list is joined by number (unique), so a suppressed number's row is cancelled.
    suppressed = f"LEFT JOIN {quote(Suppression._meta.db_table)} s ON s.number = c.phone"
    if campaign.duplicates_allowed:
        source = (
            f"{quote(membership)} m JOIN {quote(contact.db_table)} c ON c.id = m.contact_id "  # noqa: S608
            f"{suppressed} "
            f"WHERE m.contact_list_id IN (SELECT contactlist_id FROM {quote(lists)} WHERE campaign_id = %s)"
        )
    else:
        source = (
            f"{quote(contact.db_table)} c {suppressed} WHERE EXISTS (SELECT 1 FROM {quote(membership)} m "  # noqa: S608
            f"JOIN {quote(lists)} l ON l.contactlist_id = m.contact_list_id "
            f"WHERE m.contact_id = c.id AND l.campaign_id = %s)"
        )
    sql = (
        f"INSERT INTO {quote(message.db_table)} ({', '.join(columns)}) "  # noqa: S608 - names are ours, values parameters
        f"SELECT {', '.join(values)} FROM {source} "
        f"AND NOT EXISTS (SELECT 1 FROM {quote(membership)} x JOIN {quote(excluded)} e "
        f"ON e.contactlist_id = x.contact_list_id WHERE x.contact_id = c.id AND e.campaign_id = %s) "
        f"AND c.id >= %s AND c.id < %s "
        f"ON CONFLICT DO NOTHING"
    )
    return sql, [*params, campaign.pk, campaign.pk]


OPTED_OUT_REASON = "The number is on the suppression list (it opted out); nothing was sent."
Status_ = OutboundMessage.Status


def campaign_message(
    campaign: Campaign,
    to: str,
    key: str,
    *,
    contact_id: int | None,
    opted_out: bool,
    variables: dict | None = None,
    plan: variants.Plan | None = None,
) -> OutboundMessage:
    """One recipient's row; an opted-out contact's is cancelled at once, never queued. With an A/B
    ``plan`` it carries its variant, or waits (scheduled, no time) for a test's winner."""
    variant = plan.assign(campaign.pk, to) if plan else None
    held = plan is not None and variant is None
    status = OutboundMessage.Status.SCHEDULED if held else OutboundMessage.Status.QUEUED
    return OutboundMessage(
        variant=variant,
        campaign_id=campaign.pk,
        channel_id=campaign.channel_id,
        contact_id=contact_id,
        to=to,
        recipient_key=key,
        variables=variables,
        status=OutboundMessage.Status.CANCELLED if opted_out else status,
        error_code="opted_out" if opted_out else "",
        error_message=OPTED_OUT_REASON if opted_out else "",
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

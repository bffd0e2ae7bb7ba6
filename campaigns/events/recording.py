"""Recording events: rows in the outbox, written in the transaction of the change that caused them.

The caller makes its change and calls record_events in one transaction, so an event is recorded
exactly when its change commits (never for a change rolled back, never lost for one committed). A
batch of events is one INSERT, however many endpoints want them. Delivery is the events workers'
(delivery.py), started once the transaction commits.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage, WebhookEndpoint, WebhookEvent
from campaigns.models.webhook import EventType

Status = OutboundMessage.Status

# The event a message's new status is; statuses without one (queued, unknown...) are not told.
MESSAGE_EVENTS = {
    Status.SENT: EventType.MESSAGE_SENT,
    Status.DELIVERED: EventType.MESSAGE_DELIVERED,
    Status.FAILED: EventType.MESSAGE_FAILED,
    Status.UNDELIVERED: EventType.MESSAGE_UNDELIVERED,
    Status.READ: EventType.MESSAGE_READ,
}


@dataclass
class Event:
    """Something a customer's system may want to know: its type, what it is about, and, for a
    message sent with one, the request's status_callback URL."""

    type: str
    data: dict
    callback_url: str = ""
    at: datetime | None = None


def new_event_id() -> str:
    """``evt_`` and 26 characters: milliseconds since the epoch first, so ids sort by time."""
    return f"evt_{int(time.time() * 1000):013x}{secrets.token_hex(6)[:13]}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subscribers() -> dict[str, list[int]]:
    """Event type -> the enabled endpoints that asked for it (one query: the table is small)."""
    wanted: dict[str, list[int]] = {}
    for endpoint_id, types in WebhookEndpoint.objects.filter(enabled=True).values_list("id", "event_types"):
        for event_type in types or []:
            wanted.setdefault(event_type, []).append(endpoint_id)
    return wanted


def record_events(events: Iterable[Event], wanted: dict[str, list[int]] | None = None) -> int:
    """Put ``events`` in the outbox, one row per event and destination; the number of rows.

    Call it inside the transaction that makes the change the events tell of.
    """
    wanted = subscribers() if wanted is None else wanted
    now = timezone.now()
    rows: list[tuple] = []
    for event in events:
        at = event.at or now
        event_id, event_type = new_event_id(), str(event.type)
        payload = {"id": event_id, "type": event_type, "timestamp": iso(at), "data": event.data}
        rows += [(event_id, event_type, payload, endpoint_id, "", at) for endpoint_id in wanted.get(event_type, ())]
        if event.callback_url:
            rows.append((event_id, event_type, payload, None, event.callback_url, at))
    if rows:
        insert_rows(rows)
        from campaigns.events.jobs import deliver_soon

        deliver_soon()
    return len(rows)


COLUMNS = (
    "event_id, type, payload, endpoint_id, callback_url, created_at, next_attempt_at, status, attempts, last_error"
)


def insert_rows(rows: list[tuple]) -> None:
    """(event_id, type, payload, endpoint_id, callback_url, at) rows into the outbox, pending and due.

    One statement on PostgreSQL: INSERT ... SELECT FROM json_to_recordset of one parameter, every
    row in one JSON text (one json.dumps, in C). psycopg quoted array parameters element by element
    in Python, a JSON payload's escaped quotes dearest of all: 0.2 ms of CPU a row, more than the
    insert's own work (a receipt batch of 2,000 events, issue 17). One prepared statement run for
    every row elsewhere (executemany). Django's bulk_create built each row's model and SQL in
    Python: 2 ms of CPU per row.
    """
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    pending = WebhookEvent.Status.PENDING
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            document = [
                {"e": e, "t": t, "p": p, "ep": ep, "cb": cb, "at": at.isoformat()} for e, t, p, ep, cb, at in rows
            ]
            cursor.execute(
                f"INSERT INTO {table} ({COLUMNS}) SELECT e, t, p, ep, cb, at, at, %s, 0, '' "  # noqa: S608 - names are ours, every value a parameter
                "FROM json_to_recordset(%s::json) AS r(e text, t text, p jsonb, ep bigint, cb text, at timestamptz)",
                [pending, json.dumps(document)],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {table} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, '')",  # noqa: S608 - as above
            [(e, t, json.dumps(p), ep, cb, adapt(at), adapt(at), pending) for e, t, p, ep, cb, at in rows],
        )


def record_message_events(message_ids: list[int], status: str) -> int:
    """Record the event of these messages' new ``status`` (one SELECT of them, one INSERT).

    Only messages someone listens to are read: every message when an endpoint wants the event,
    else those sent with a status_callback (theirs or their bulk job's).
    """
    event_type = MESSAGE_EVENTS.get(status)
    if not message_ids or event_type is None:
        return 0
    wanted = subscribers()
    return record_events(
        (message_event(row, event_type, status) for row in listened(message_ids, wanted, event_type)), wanted
    )


def listened(message_ids: list[int], wanted: dict[str, list[int]], event_type: str) -> Iterator[dict]:
    """The messages' rows for their events, a slice of ids a query: a plain query answers in one
    round trip, where a server-side cursor (QuerySet.iterator) took three."""
    for start in range(0, len(message_ids), READ_SLICE):
        messages = OutboundMessage.objects.filter(pk__in=message_ids[start : start + READ_SLICE])
        if not wanted.get(event_type):
            messages = messages.filter(Q(status_callback__gt="") | Q(campaign__status_callback__gt=""))
        yield from messages.values(*MESSAGE_FIELDS, "status_callback", "campaign__status_callback", "campaign__kind")


READ_SLICE = 2000


MESSAGE_FIELDS = (
    "id",
    "to",
    "channel_id",
    "campaign_id",
    "provider_message_id",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_at",
)


def message_event(row: dict, event_type: str, status: str) -> Event:
    """A message's event: what it is, to whom, its new status, and its campaign or bulk job."""
    data = {
        "message_id": row["id"],
        "status": str(status),
        "to": row["to"],
        "channel_id": row["channel_id"],
        "provider_message_id": row["provider_message_id"],
    }
    if row["campaign_id"]:
        kind = "bulk_job_id" if row["campaign__kind"] == "bulk_api" else "campaign_id"
        data[kind] = row["campaign_id"]
    if status in (Status.FAILED, Status.UNDELIVERED):
        data.update(error_code=row["error_code"], error_message=row["error_message"])
    for moment in ("sent_at", "delivered_at"):
        if row[moment]:
            data[moment] = iso(row[moment])
    return Event(event_type, data, callback_url=row["status_callback"] or row["campaign__status_callback"] or "")


CANCELLED = "cancelled"  # the error_code (and data.status) of a message cancelled before it left


def record_cancellations(message_ids: list[int], reason: str) -> int:
    """message.failed, error_code "cancelled" and ``reason``, for messages just cancelled before they
    left (one SELECT of those listened to, one INSERT), as Twilio tells a cancelled message as failed.
    Without it a status_callback would wait for ever for an outcome that never comes."""
    if not message_ids:
        return 0
    wanted = subscribers()
    rows = listened(message_ids, wanted, EventType.MESSAGE_FAILED)
    return record_events((cancelled_event(row, reason) for row in rows), wanted)


def cancelled_event(row: dict, reason: str) -> Event:
    told = {**row, "error_code": CANCELLED, "error_message": reason}
    event = message_event(told, EventType.MESSAGE_FAILED, Status.FAILED)
    event.data["status"] = CANCELLED  # what GET /message says of it too
    return event


def record_unsent_recipients(job: Campaign, reason: str) -> int:
    """message.failed for each recipient of a bulk job cancelled before its fan-out made their
    messages: no message exists, so ``message_id`` is null and ``to`` says whose it was."""
    wanted = subscribers()
    if not (wanted.get(EventType.MESSAGE_FAILED) or job.status_callback):
        return 0
    recipients = Campaign.objects.filter(pk=job.pk).values_list("inline_recipients", flat=True).first() or []
    data = {"message_id": None, "status": CANCELLED, "channel_id": job.channel_id, "provider_message_id": ""}
    data.update(bulk_job_id=job.pk, error_code=CANCELLED, error_message=reason)
    events = (
        Event(EventType.MESSAGE_FAILED, {**data, "to": r["to"]}, callback_url=job.status_callback) for r in recipients
    )
    return record_events(events, wanted)


def record_completion(campaign_id: int) -> int:
    """campaign.completed or bulk_job.completed for a campaign that has just finished (completed or
    cancelled: ``state`` says which), with its counts."""
    fields = ("id", "kind", "name", "status", "status_reason", "finished_at", "fanned_out_at", "recipient_count")
    found = Campaign.objects.filter(pk=campaign_id).values(*fields, "status_callback").first()
    if found is None:
        return 0
    bulk = found["kind"] == Campaign.Kind.BULK_API
    counts = dict(
        OutboundMessage.objects.filter(campaign_id=campaign_id)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    cancelled = found["status"] == Campaign.Status.CANCELLED
    if cancelled and bulk and found["fanned_out_at"] is None and found["recipient_count"]:
        counts = {CANCELLED: found["recipient_count"]}  # cancelled before its messages were made
    data = {
        "bulk_job_id" if bulk else "campaign_id": found["id"],
        "name": found["name"],
        "state": CANCELLED if cancelled else "completed",
        "finished_at": iso(found["finished_at"] or timezone.now()),
        "messages": counts,
    }
    if cancelled:
        data["reason"] = found["status_reason"]
    event_type = EventType.BULK_JOB_COMPLETED if bulk else EventType.CAMPAIGN_COMPLETED
    return record_events([Event(event_type, data, callback_url=found["status_callback"] if bulk else "")])


def record_replies(replies: list) -> int:
    """message.replied for stored replies (InboundMessage rows): who wrote, what, and the message
    they answered (and its status_callback, which hears of the reply too). For the conversations'
    applier to call in the transaction that stores them."""
    answered = {r.in_reply_to_id for r in replies if r.in_reply_to_id}
    callbacks = dict(
        OutboundMessage.objects.filter(pk__in=answered)
        .filter(Q(status_callback__gt="") | Q(campaign__status_callback__gt=""))
        .values_list("pk", "status_callback")
    )
    events = []
    for reply in replies:
        data = {
            "reply_id": reply.pk,
            "from": reply.phone,
            "text": reply.text,
            "media": reply.media,
            "channel_id": reply.channel_id,
            "provider_message_id": reply.provider_message_id,
            "in_reply_to": reply.in_reply_to_id,
            "campaign_id": reply.campaign_id,
            "received_at": iso(reply.received_at),
        }
        callback = callbacks.get(reply.in_reply_to_id) or ""
        events.append(Event(EventType.MESSAGE_REPLIED, data, callback_url=callback))
    return record_events(events)


def record_opt_outs(numbers: list[str], *, source: str, reason: str, channel: str = "") -> int:
    """contact.opted_out for numbers that have just gone on the suppression list, in the
    transaction that put them there."""
    at = timezone.now()
    data = {"source": source, "reason": reason, "channel": channel, "opted_out_at": iso(at)}
    return record_events(Event(EventType.CONTACT_OPTED_OUT, {"phone": n, **data}, at=at) for n in numbers)

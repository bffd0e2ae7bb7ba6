"""The receipts bench's backlog figure: a million receipts waiting in the durable queue, drained by
one worker's batch applier (campaigns/receiving), none lost.

No run() here: this module is a helper of bench/receipts.py.

The queue is filled by the database in one statement (one "delivered" receipt for each of a
million sent messages, in the shape the webhooks write), then batches are applied in this
process, as one receiving worker does, until none is left. Every message must then be delivered.
"""

from __future__ import annotations

import json
import os
import secrets
import time

from bench import load
from bench.harness import forget_channel

RECEIPTS = int(os.environ.get("RECEIPTS_BACKLOG", "1000000"))  # fewer for a quick look
TARGET_PER_WORKER = 5_000


def receiving():
    """(apply_batch, ReceivedEvent, event_from_record) once the durable queue is on this branch, else None."""
    try:
        from campaigns.receiving.worker import apply_batch
        from providers.events import event_from_record
        from providers.models import ReceivedEvent
    except ImportError:
        return None
    return apply_batch, ReceivedEvent, event_from_record


def apply_waiting() -> tuple[int, float]:
    """Apply every waiting event, batch after batch, in this process: (events, seconds)."""
    parts = receiving()
    if parts is None:
        return 0, 0.0
    apply_batch = parts[0]
    events, started = 0, time.perf_counter()
    while batch := apply_batch():
        if not batch.rows:
            break
        events += batch.rows
    return events, time.perf_counter() - started


def forget_waiting(channel_id: int) -> None:
    parts = receiving()
    if parts is not None:
        parts[1].objects.filter(channel_id=channel_id).delete()


def drain_row() -> dict:
    name = f"{RECEIPTS:,} receipts drained from the durable queue by one worker"
    parts = receiving()
    if parts is None:
        return {
            "name": name,
            "figure": 0.0,
            "unit": "receipts/s",
            "target": TARGET_PER_WORKER,
            "ratio": 0.0,
            "note": "not measured: the durable receipt queue and its batch applier (campaigns/receiving) "
            "are not on this branch yet",
        }
    from providers.models import Channel

    channel = Channel.objects.create(name=f"Bench backlog {secrets.token_hex(4)}", provider="twlo")
    try:
        fill_started = time.perf_counter()
        waiting = fill(channel.pk, parts)
        fill_seconds = time.perf_counter() - fill_started
        applied, seconds = apply_waiting()
        delivered, left = count(channel.pk, parts)
    finally:
        forget_waiting(channel.pk)
        forget_channel(channel)
    lost = RECEIPTS - delivered
    rate = applied / seconds if seconds else 0.0
    return {
        "name": name,
        "figure": round(rate),
        "unit": "receipts/s",
        "target": TARGET_PER_WORKER,
        "ratio": rate / TARGET_PER_WORKER if not lost and not left else 0.0,
        "note": f"{waiting:,} waiting (filled in {fill_seconds:.0f} s), {applied:,} applied in {seconds:.0f} s; "
        f"{delivered:,} messages delivered, {lost:,} lost, {left:,} left in the queue; {load.load_average()}",
    }


def fill(channel_id: int, parts) -> int:
    """A million sent messages and a "delivered" receipt waiting for each, as the Twilio webhook writes it."""
    from django.db import connection, transaction

    from bench.receipts import insert_sent_messages
    from campaigns.models import OutboundMessage
    from providers.events import DeliveryState, ReceiptEvent

    _, received_event, event_from_record = parts
    messages = connection.ops.quote_name(OutboundMessage._meta.db_table)
    events = connection.ops.quote_name(received_event._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(*insert_sent_messages(channel_id, RECEIPTS, "backlog"))
        cursor.execute(
            f"""INSERT INTO {events} (kind, channel_id, event, received_at)
                SELECT 'receipt', channel_id, jsonb_build_object('provider_message_id', provider_message_id,
                    'state', 'delivered', 'message_id', id, 'recipient', "to"), now()
                FROM {messages} WHERE channel_id = %s ORDER BY id""",
            [channel_id],
        )
        waiting = cursor.rowcount
        cursor.execute(f"SELECT kind, channel_id, event FROM {events} WHERE channel_id = %s LIMIT 1", [channel_id])
        kind, row_channel, record = cursor.fetchone()
    event = event_from_record(kind, row_channel, record if isinstance(record, dict) else json.loads(record))
    if not (isinstance(event, ReceiptEvent) and event.state == DeliveryState.DELIVERED and event.message_id):
        raise SystemExit(f"The backlog's rows are not receipts the applier reads: {event!r}")
    return waiting


def count(channel_id: int, parts) -> tuple[int, int]:
    from campaigns.models import OutboundMessage

    delivered = OutboundMessage.objects.filter(channel_id=channel_id, status="delivered").count()
    return delivered, parts[1].objects.filter(channel_id=channel_id).count()

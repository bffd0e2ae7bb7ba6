"""Delivery receipts applied to our messages: the campaigns side of providers.events.

Provider webhooks and pollers (in providers/) read receipts into ReceiptEvents; this module is the
receipt book they hand them to, registered in CampaignsConfig.ready. Receipts can arrive twice
and out of order, so a message only ever moves forward: a delivered message never goes back to sent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.analytics import tally_receipts
from campaigns.events import record_message_events, record_opt_outs
from campaigns.models import OutboundMessage
from campaigns.pipeline.counters import count_outcomes
from campaigns.whatsapp.fallback import after_failures
from contacts.models import Contact, Suppression
from contacts.phones import normalise_phone
from providers.events import AwaitingReceipt, DeliveryState, ReceiptEvent
from providers.models import Channel

log = logging.getLogger(__name__)
Status = OutboundMessage.Status

# How far along each state is. A receipt may only move a message to a higher rank.
RANK = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.UNKNOWN: 3,
    Status.SENT: 4,
    Status.FAILED: 5,
    Status.UNDELIVERED: 5,
    Status.DELIVERED: 6,
    Status.READ: 7,
}
FINAL_FAILURES = {Status.FAILED, Status.UNDELIVERED}
assert {state.value for state in DeliveryState} <= set(RANK), "every receipt state must be a message state"


class CampaignReceiptBook:
    """providers.events.ReceiptBook over OutboundMessage."""

    def apply(self, event: ReceiptEvent) -> bool:
        return apply_receipt(event)

    def awaiting(
        self, channel_ids: list[int], sent_after: datetime, sent_before: datetime, limit: int
    ) -> list[AwaitingReceipt]:
        rows = (
            OutboundMessage.objects.filter(
                channel_id__in=channel_ids, status=Status.SENT, sent_at__lte=sent_before, sent_at__gte=sent_after
            )
            .exclude(provider_message_id="")
            .order_by("updated_at")
            .values_list("pk", "channel_id", "provider_message_id")[:limit]
        )
        return [AwaitingReceipt(pk, channel_id, provider_id) for pk, channel_id, provider_id in rows]

    def still_waiting(self, message_ids: list[int]) -> None:
        OutboundMessage.objects.filter(pk__in=message_ids, status=Status.SENT).update(updated_at=timezone.now())

    def recorded(self, channel_id: int, provider_message_ids: list[str]) -> set[str]:
        found = OutboundMessage.objects.filter(channel_id=channel_id, provider_message_id__in=provider_message_ids)
        return set(found.values_list("provider_message_id", flat=True))


def apply_receipt(event: ReceiptEvent) -> bool:
    """Move the message forward to the event's state; False if unknown, already there, or further on."""
    status = Status(event.state.value)
    lookup = _lookup(event)
    # Only a message a provider has taken (or is being handed) can get a receipt.
    lower = [s for s, rank in RANK.items() if RANK[Status.SENDING] <= rank < RANK[status]]
    now = timezone.now()
    changes: dict[str, object] = {"status": status, "updated_at": now, "claim_token": None}
    if event.provider_message_id:
        changes["provider_message_id"] = event.provider_message_id
    if status in (Status.DELIVERED, Status.READ):
        changes["delivered_at"] = min(event.at or now, now)
    if status in FINAL_FAILURES:
        changes.update(error_code=event.error_code[:32], error_message=event.error_message)
    # A receipt shows a provider has it: sent now, if not before (the analytics count it sent once).
    changes["sent_at"] = Coalesce(F("sent_at"), Value(min(event.at or now, now)))
    with transaction.atomic():  # the change and its event (campaigns/events/) commit together
        rows = list(
            OutboundMessage.objects.select_for_update()
            .filter(lookup, status__in=lower)
            .values_list(
                *("pk", "campaign_id", "channel_id", "to", "status", "error_code", "error_message", "body"),
                *("variant", "sent_at"),
            )
        )
        moving = [row[0] for row in rows]
        changed = OutboundMessage.objects.filter(pk__in=moving, status__in=lower).update(**changes) if moving else 0
        if changed:
            record_message_events(moving, status)
            _tally(rows, changes, now, opted_out=bool(event.opt_out_reason))
            if status in FINAL_FAILURES:
                after_failures(moving)  # an SMS fallback, when WhatsApp says the number is not on it
        opt_out_recipients([event])
    if changed:
        count_outcomes(event.channel_id, {status: changed})
    elif not OutboundMessage.objects.filter(lookup).exists():
        log.warning("receipt for unknown message %r on channel %s ignored", event.provider_message_id, event.channel_id)
    return bool(changed)


def _tally(rows: list[tuple], changes: dict[str, object], now: datetime, opted_out: bool = False) -> None:
    """The analytics tallies of the messages this receipt moved (locked, so all of them moved);
    ``opted_out``: the receipt says the recipient unsubscribed (a failure and an opt-out)."""
    status = changes["status"]
    moves = []
    for pk, campaign_id, channel_id, to, before, code_before, meaning_before, _, variant, sent_at in rows:
        failed = status in FINAL_FAILURES
        code = changes["error_code"] if failed else code_before
        meaning = changes["error_message"] if failed else meaning_before
        moves.append((pk, campaign_id, channel_id, to, variant, before, status, code, meaning, sent_at is not None))
    unsubscribed = {row[0] for row in rows} if opted_out and status in FINAL_FAILURES else set()
    tally_receipts(moves, now, {row[0]: row[7] for row in rows}, unsubscribed)


def opt_out_recipients(events: list[ReceiptEvent]) -> None:
    """Numbers a provider says unsubscribed (Twilio's 21610) go on the suppression list, applied
    or not: the provider refuses them either way. Call in the transaction that applies the receipts:
    on the list, and contact.opted_out recorded, with them (an opt-out is never lost)."""
    wanted = {(e.channel_id, e.recipient): e.opt_out_reason for e in events if e.opt_out_reason}
    if not wanted:
        return
    names = dict(Channel.objects.filter(pk__in={c for c, _ in wanted}).values_list("pk", "name"))
    for (channel_id, recipient), reason in wanted.items():
        try:
            phone = normalise_phone(recipient, field="To")
        except ValidationError as error:
            log.info("could not opt out %r: %s", recipient, error.messages[0])
            continue
        channel = names.get(channel_id, "")
        if Contact.opt_out_phone(phone, reason, source=Suppression.Source.PROVIDER, channel=channel):
            record_opt_outs([phone], source=Suppression.Source.PROVIDER, reason=reason, channel=channel)


def _lookup(event: ReceiptEvent) -> Q:
    """Our id when the provider echoed it; else the provider's id; else, for a bulk send whose
    provider id is not saved yet, the one message still being sent to that number."""
    if event.message_id is not None:
        return Q(pk=event.message_id, channel_id=event.channel_id)
    if not event.provider_message_id:
        return Q(pk__in=[])  # an empty id must never match the messages whose id is not saved yet
    by_provider_id = Q(channel_id=event.channel_id, provider_message_id=event.provider_message_id)
    if not event.recipient or OutboundMessage.objects.filter(by_provider_id).exists():
        return by_provider_id
    in_flight = list(
        OutboundMessage.objects.filter(
            channel_id=event.channel_id, to=event.recipient, status=Status.SENDING, provider_message_id=""
        ).values_list("pk", flat=True)[:2]
    )
    return Q(pk=in_flight[0], channel_id=event.channel_id) if len(in_flight) == 1 else by_provider_id


def resume_campaigns_with_channels(sender, channels, **kwargs) -> str:
    """providers.signals.channels_resumed: the campaigns a channel's pause had paused go on too."""
    from campaigns.models import Campaign

    resumed = sum(Campaign.resume_for_channel(channel) for channel in channels)
    return f"{resumed} campaign(s) they had paused"

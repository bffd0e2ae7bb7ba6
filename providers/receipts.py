"""What the providers tell us after sending: delivery receipts and inbound opt-out words.

Shared by every provider's webhook and poller. Receipts can arrive twice and out of order, so a
message only ever moves forward: a delivered message never goes back to sent.
"""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from campaigns.models import OutboundMessage
from contacts.models import Contact

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

OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_WORDS = {"START", "YES", "UNSTOP"}


def record_receipt(
    *,
    channel_id: int,
    provider_message_id: str,
    status: str,
    error_code: str = "",
    error_message: str = "",
    message_id: int | None = None,
) -> bool:
    """Move the message forward to ``status``; False if unknown, already there, or further on.

    ``message_id`` (our id, when the provider echoes it back) finds a message whose provider id
    was not saved yet, e.g. a receipt racing the worker that is still recording the send.
    """
    if status not in RANK:
        raise ValueError(f"status: {status!r} is not a message state")
    lookup = Q(channel_id=channel_id, provider_message_id=provider_message_id)
    if message_id is not None:
        lookup = Q(pk=message_id, channel_id=channel_id)
    # Only a message a provider has taken (or is being handed) can get a receipt.
    lower = [s for s, rank in RANK.items() if RANK[Status.SENDING] <= rank < RANK[status]]
    now = timezone.now()
    changes: dict[str, object] = {"status": status, "updated_at": now, "claim_token": None}
    if provider_message_id:
        changes["provider_message_id"] = provider_message_id
    if status in (Status.DELIVERED, Status.READ):
        changes["delivered_at"] = now
    if status in FINAL_FAILURES:
        changes.update(error_code=error_code[:32], error_message=error_message)
    changed = OutboundMessage.objects.filter(lookup, status__in=lower).update(**changes)
    if not changed and not OutboundMessage.objects.filter(lookup).exists():
        log.warning("receipt for unknown message %r on channel %s ignored", provider_message_id, channel_id)
    return bool(changed)


def record_inbound(phone: str, text: str, opt_out_type: str = "") -> str:
    """Honour STOP/START-style replies; returns 'opted_out', 'opted_in' or ''.

    ``opt_out_type`` is what the provider decided itself (Twilio's OptOutType), which wins over
    our reading of the words.
    """
    word = (opt_out_type or text or "").strip().upper()
    if word in OPT_OUT_WORDS:
        Contact.opt_out_phone(phone, f"Replied {word}")
        return "opted_out"
    if word in OPT_IN_WORDS:
        Contact.opt_in_phone(phone)
        return "opted_in"
    return ""

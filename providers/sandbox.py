"""The sandbox provider: accepts every message, touches no network, and reports each one delivered.

It lets the whole path (admin, API, jobs, outcomes, receipts) run on a laptop without any provider
account. Every message it accepts is recorded as sent by the pipeline, like any provider's; a
moment later (RECEIPT_DELAY_SECONDS, or the channel's options["receipt_delay_seconds"]) an RQ job
reports it delivered through the same receipt path as real providers' webhooks (providers.events.take,
then the receiving worker), so the demo shows a message's whole life.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import django_rq
from redis.exceptions import RedisError

from providers.base import Outcome, OutgoingMessage, Provider, SendResult
from providers.events import DeliveryState, ReceiptEvent, receipt_book, take

log = logging.getLogger(__name__)

RECEIPT_DELAY_SECONDS = 2.0
# A receipt job that finds a message not yet recorded as sent (the worker is still writing the
# outcome) looks again this many times, RECEIPT_DELAY_SECONDS apart.
RECEIPT_ATTEMPTS = 5


class SandboxProvider(Provider):
    code = "sandbox"
    label = "Sandbox"
    webhook_setup = ("Nothing to set up: the sandbox sends nothing out and calls no webhook.",)
    max_batch_size = 1000
    deduplicates_by_our_id = True  # nothing leaves the machine, so resending is harmless
    default_rate_limit = 100.0

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            provider_id = f"SB{uuid.uuid4().hex}"
            log.info("sandbox accepted message %s to %s as %s", message.id, message.to, provider_id)
            results.append(SendResult(message.id, Outcome.ACCEPTED, provider_message_id=provider_id))
        schedule_receipts(self.channel.pk, [r.provider_message_id for r in results], self.receipt_delay())
        return results

    def receipt_delay(self) -> float:
        delay = (self.channel.options or {}).get("receipt_delay_seconds", RECEIPT_DELAY_SECONDS)
        return float(delay) if isinstance(delay, int | float) and delay >= 0 else RECEIPT_DELAY_SECONDS

    def check_credentials(self) -> str:
        return "The sandbox needs no credentials: it accepts every message, sends nothing and reports it delivered."


def schedule_receipts(channel_id: int, provider_ids: list[str], delay: float, attempt: int = 1) -> None:
    """Report these messages delivered in ``delay`` seconds (an RQ job; the worker's scheduler runs it)."""
    if not provider_ids:
        return
    queue = django_rq.get_queue("default", commit_mode="auto")
    try:
        queue.enqueue_in(timedelta(seconds=delay), deliver, channel_id, provider_ids, delay, attempt)
    except RedisError:
        log.warning("sandbox receipts for %d message(s) not scheduled (Redis unavailable)", len(provider_ids))


def deliver(channel_id: int, provider_ids: list[str], delay: float = RECEIPT_DELAY_SECONDS, attempt: int = 1) -> int:
    """The RQ job: each message delivered, as a provider's receipt would say. Returns how many were
    taken for the receiving worker."""
    recorded = receipt_book().recorded(channel_id, provider_ids)
    not_yet = [provider_id for provider_id in provider_ids if provider_id not in recorded]
    if not_yet and attempt < RECEIPT_ATTEMPTS:
        # Not recorded as sent yet (the worker is still writing the outcome): look again.
        schedule_receipts(channel_id, not_yet, max(delay, 0.5), attempt + 1)
    return take(ReceiptEvent(channel_id, provider_id, DeliveryState.DELIVERED) for provider_id in recorded)

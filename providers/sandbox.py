"""The sandbox provider: accepts every message, touches no network.

It lets the whole path (admin, API, jobs, outcomes) run on a laptop without any provider account.
Sent messages are kept in a short Redis list so the demo can show what "went out".
"""

from __future__ import annotations

import logging
import uuid

from providers.base import Outcome, OutgoingMessage, Provider, SendResult

log = logging.getLogger(__name__)


class SandboxProvider(Provider):
    code = "sandbox"
    label = "Sandbox"
    max_batch_size = 1000
    deduplicates_by_our_id = True  # nothing leaves the machine, so resending is harmless
    default_rate_limit = 100.0

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            provider_id = f"SB{uuid.uuid4().hex}"
            log.info("sandbox accepted message %s to %s as %s", message.id, message.to, provider_id)
            results.append(SendResult(message.id, Outcome.ACCEPTED, provider_message_id=provider_id))
        return results

    def check_credentials(self) -> str:
        return "The sandbox needs no credentials: it accepts every message and sends nothing."

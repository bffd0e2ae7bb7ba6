"""A provider for pipeline tests whose answers the test decides, one per message in order."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from providers.base import ChannelError, Outcome, OutgoingMessage, Provider, SendResult


class ScriptedProvider(Provider):
    code = "scripted"
    label = "Scripted (tests only)"
    max_batch_size = 100
    credential_fields = {"token": "Token"}
    answers: ClassVar[deque] = deque()  # Outcome, SendResult kwargs, or a ChannelError to raise
    sent: ClassVar[list[OutgoingMessage]] = []

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            answer = self.answers.popleft() if self.answers else Outcome.ACCEPTED
            if isinstance(answer, ChannelError):
                raise answer
            if isinstance(answer, Exception):
                raise answer
            self.sent.append(message)
            kwargs = answer if isinstance(answer, dict) else {"outcome": answer}
            kwargs.setdefault("provider_message_id", f"SC{message.id}" if kwargs["outcome"] == Outcome.ACCEPTED else "")
            results.append(SendResult(message.id, **kwargs))
        return results

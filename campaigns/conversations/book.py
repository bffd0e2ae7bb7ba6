"""The inbound book providers hand replies to (registered in CampaignsConfig.ready)."""

from __future__ import annotations

from campaigns.conversations.store import Outcome, receive
from providers.events import InboundEvent


class ConversationBook:
    """providers.events.InboundBook: replies stored once, linked and acted on (store.receive)."""

    def receive(self, events: list[InboundEvent]) -> Outcome:
        return receive(events)

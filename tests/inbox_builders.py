"""Conversations and replies made straight with the ORM, for the inbox's tests (the code that stores real
replies from providers is campaigns/conversations/, tested on its own)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, Conversation, InboundMessage
from contacts.models import Contact
from providers.models import Channel


def a_conversation(channel: Channel, phone: str = "+447911123456", contact: Contact | None = None) -> Conversation:
    return Conversation.objects.create(
        channel=channel, phone=phone, contact=contact, last_message_at=timezone.now() - timedelta(days=30)
    )


def a_reply(
    conversation: Conversation,
    text: str,
    *,
    at: datetime | None = None,
    keyword: str = "",
    campaign: Campaign | None = None,
    unread: bool = True,
) -> InboundMessage:
    """A reply in ``conversation``, and the conversation brought up to date as storing one does."""
    at = at or timezone.now()
    message = InboundMessage.objects.create(
        channel_id=conversation.channel_id,
        conversation=conversation,
        contact_id=conversation.contact_id,
        phone=conversation.phone,
        text=text,
        received_at=at,
        keyword=keyword,
        campaign=campaign,
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=at,
        last_inbound_at=at,
        last_text=text[:200],
        unread_count=F("unread_count") + (1 if unread else 0),
        last_campaign=campaign or F("last_campaign"),
    )
    conversation.refresh_from_db()
    return message

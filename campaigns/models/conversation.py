"""Replies from recipients and the conversations they belong to (campaigns/conversations/ applies and shows them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from campaigns.models.campaign import Campaign
from campaigns.models.message import OutboundMessage
from contacts.models import Contact
from providers.models import Channel


class Conversation(models.Model):
    """Everything one number and one of our channels said to each other: one inbox row.

    Kept by number, not contact, so it outlives a deleted contact like the suppression list does.
    ``last_inbound_at`` is what WhatsApp's 24-hour window is measured from.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="conversations", db_index=False)
    phone = models.CharField(max_length=16, help_text="E.164")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    unread_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(help_text="The latest message either way.")
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="The contact's latest message to us.")
    last_text = models.CharField(max_length=200, blank=True, help_text="The start of the latest message.")
    last_campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["channel", "phone"], name="one_conversation_per_number")]
        indexes = [
            # The inbox, newest first, whole or by one filter: a page reads its rows from one index.
            models.Index(fields=["-last_message_at", "-id"], name="conv_newest"),
            models.Index(fields=["channel", "-last_message_at"], name="conv_by_channel"),
            models.Index(fields=["last_campaign", "-last_message_at"], name="conv_by_campaign"),
            models.Index(fields=["-last_message_at"], condition=Q(unread_count__gt=0), name="conv_unread"),
            models.Index(fields=["phone"], name="conv_by_phone"),
            # WhatsApp's 24-hour window: who wrote to a channel lately (the pre-launch panel's count).
            models.Index(fields=["channel", "last_inbound_at"], name="conv_window"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} on {self.channel_id}"


class InboundMessage(models.Model):
    """One message a recipient sent to one of our channels, stored once however often the provider retries."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="inbound_messages", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="inbound_messages")
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_messages"
    )
    phone = models.CharField(max_length=16, help_text="E.164: who wrote.")
    text = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True, help_text='[{"url": ..., "type": ...}]')
    profile_name = models.CharField(max_length=200, blank=True, help_text="The name the sender's app shows.")
    provider_message_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(help_text="When the provider says it was sent to us.")
    created_at = models.DateTimeField(auto_now_add=True)
    # The outbound message it most likely answers (the latest to this number on this channel within
    # INBOUND_REPLY_WINDOW), and so its campaign.
    in_reply_to = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies", db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies", db_index=False
    )
    keyword = models.CharField(
        max_length=20, blank=True, help_text="What the whole message meant as a keyword: STOP, START, HELP, JOIN..."
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="one_inbound_per_provider_id",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "received_at"], name="inbound_by_conversation"),
            models.Index(fields=["campaign", "received_at"], name="inbound_by_campaign"),
            models.Index(fields=["phone", "received_at"], name="inbound_by_phone"),
            # A campaign's replies: its export looks them up by number; its page counts the numbers that
            # opted out by replying (index-only, STOP rows alone).
            models.Index(fields=["campaign", "phone"], name="inbound_numbers_by_campaign"),
            models.Index(fields=["campaign", "phone"], condition=Q(keyword="STOP"), name="inbound_stops_by_campaign"),
            # The inbox's "keyword replies" filter: conversations with one, a small index whatever the table.
            models.Index(fields=["conversation"], condition=~Q(keyword=""), name="inbound_keyword_replies"),
            # Deleting outbound messages (SET_NULL here) finds their replies without reading them all.
            models.Index(fields=["in_reply_to"], condition=Q(in_reply_to__isnull=False), name="inbound_answering"),
        ]

    def __str__(self) -> str:
        return f"from {self.phone}: {self.text[:40]}"

"""Tracked links: a short link per recipient and URL, and the clicks waiting to be counted."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from campaigns.models.campaign import Campaign
from campaigns.models.message import OutboundMessage


class ShortLink(models.Model):
    """One URL of one recipient's message, behind an unguessable code (campaigns/links/).

    The message and campaign are referenced without a database constraint: deleting old messages
    or a campaign must not load or delete millions of links one by one; an orphan simply expires.
    """

    code = models.CharField(max_length=16, unique=True)
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.DO_NOTHING, db_constraint=False, related_name="short_links"
    )
    # Null only so the redirect reads it with a LEFT JOIN: a deleted campaign's links still answer.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="short_links"
    )
    url = models.TextField(help_text="The address as written in the message.")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    first_click_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # A campaign's clicked links alone (results per A/B variant count their messages).
            models.Index(
                fields=["campaign", "message"], condition=Q(first_click_at__isnull=False), name="link_clicked"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} -> {self.url}"


class LinkClick(models.Model):
    """A click answered, waiting to be folded into its link's count (one INSERT per click).

    A table, not a Redis stream: a click answered must survive a Redis flush.
    """

    # No index: the log is read in id order and deleted by id; an index on the link would be one
    # more write for every click answered.
    link = models.ForeignKey(
        ShortLink, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    clicked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Click on link {self.link_id} at {self.clicked_at}"

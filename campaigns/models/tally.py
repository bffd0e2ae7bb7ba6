"""A campaign's message counts by state as last counted: what pages listing many campaigns show."""

from __future__ import annotations

from django.db import models

from campaigns.models.campaign import Campaign


class CampaignTally(models.Model):
    """One campaign's messages counted by status at ``counted_at`` (campaigns/reports/tallies.py keeps it fresh).

    Counting a page of campaigns' messages reads up to every row of the message table; the campaign
    list reads these instead. Empty ``counts`` with no ``counted_at``: asked for, not counted yet.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True, related_name="tally")
    counts = models.JSONField(default=dict, blank=True, help_text="Messages by status, e.g. {'sent': 12}.")
    counted_at = models.DateTimeField(null=True, blank=True)
    # When a page last asked a worker to count again (none is asked twice while one is on its way).
    recount_asked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Tally of campaign {self.campaign_id} at {self.counted_at}"

"""Outcome tallies kept as outcomes arrive (campaigns/analytics/ writes them): what the analytics
pages read instead of counting millions of message rows.

Campaign ids are plain numbers, 0 for messages outside a campaign (single messages, bulk API jobs):
an upsert needs a key without NULLs, and deleting a campaign must not scan its tallies.
"""

from __future__ import annotations

from django.db import models

COUNTERS = ("sent", "delivered", "failed", "clicks", "unique_clicks", "replies", "repliers", "opt_outs", "segments")


class OutcomeCounts(models.Model):
    """What happened, counted once per message moved: the fields every tally shares."""

    sent = models.BigIntegerField(default=0, help_text="Messages a provider took.")
    delivered = models.BigIntegerField(default=0)
    # A failure a later receipt turns into a delivery is taken back (so it may go below 0 in a bucket).
    failed = models.BigIntegerField(default=0, help_text="Failed or undelivered, at sending or by receipt.")
    clicks = models.BigIntegerField(default=0, help_text="Every click on the recipients' short links.")
    unique_clicks = models.BigIntegerField(default=0, help_text="Recipients' first clicks.")
    replies = models.BigIntegerField(default=0, help_text="Every reply.")
    repliers = models.BigIntegerField(default=0, help_text="Recipients' first replies.")
    opt_outs = models.BigIntegerField(default=0, help_text="Replies that opted the number out.")
    segments = models.BigIntegerField(default=0, help_text="Segments of the messages sent (the cost).")

    class Meta:
        abstract = True


class CampaignBucket(OutcomeCounts):
    """A campaign's outcomes on one channel in one 5-minute bucket (hours and days add them up)."""

    campaign_id = models.BigIntegerField()
    channel_id = models.BigIntegerField()
    start = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "start", "channel_id"], name="one_bucket_per_campaign_time")
        ]

    def __str__(self) -> str:
        return f"Campaign {self.campaign_id} at {self.start}"


class HourlyOutcomes(OutcomeCounts):
    """Every message's outcomes (campaign or not) on one channel in one hour: the dashboard's charts
    (days in any viewer's time zone are 24 of these; a month is at most 720 rows a channel)."""

    channel_id = models.BigIntegerField()
    hour = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "channel_id"], name="one_hour_per_channel")]

    def __str__(self) -> str:
        return f"Channel {self.channel_id} at {self.hour}"


class CampaignBreakdown(OutcomeCounts):
    """A campaign's outcomes by one key: a failure's error code, the recipients' country, or the A/B
    variant (its position; there ``sent`` counts every message that went, failed at sending too)."""

    class Kind(models.TextChoices):
        ERROR = "error", "Error code"
        COUNTRY = "country", "Country"
        VARIANT = "variant", "A/B variant"

    campaign_id = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=32, blank=True, help_text="An error code, an ISO country or a variant.")
    meaning = models.CharField(max_length=300, blank=True, help_text="An error code's meaning, as last reported.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign_id", "kind", "key"], name="one_breakdown_per_key")]

    def __str__(self) -> str:
        return f"Campaign {self.campaign_id} {self.kind} {self.key}"

"""Campaigns' message counts as last counted, for the campaign list (campaigns/reports/tallies.py)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_campaign_messages_wait_for_sending_hours"),
    ]

    operations = [
        migrations.CreateModel(
            name="CampaignTally",
            fields=[
                (
                    "campaign",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="tally",
                        serialize=False,
                        to="campaigns.campaign",
                    ),
                ),
                (
                    "counts",
                    models.JSONField(blank=True, default=dict, help_text="Messages by status, e.g. {'sent': 12}."),
                ),
                ("counted_at", models.DateTimeField(blank=True, null=True)),
                ("recount_asked_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]

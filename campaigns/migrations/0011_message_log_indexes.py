"""The message log's filters and sorts each read an index in the list's order (newest first): by
campaign (and a campaign's messages in one state), channel, the states few messages are in
(partial: sends rarely write it), and single messages. The (campaign, id) and (channel, id) indexes take
over from the foreign keys' own, which are dropped once the new ones exist. Built concurrently on
PostgreSQL (campaigns/concurrent_indexes.py): sends go on meanwhile."""

import django.db.models.deletion
from django.db import migrations, models

from campaigns.concurrent_indexes import AddIndexWithoutBlockingSends, DropForeignKeyIndexWithoutBlockingSends


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("campaigns", "0010_campaign_tally"),
        ("providers", "0003_channel_price_per_segment"),
    ]

    operations = [
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(fields=["campaign", "id", "status"], name="msg_by_campaign"),
        ),
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(fields=["channel", "id"], name="msg_by_channel"),
        ),
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(
                condition=models.Q(("status__in", ["scheduled", "failed", "undelivered", "unknown", "cancelled"])),
                fields=["status", "id"],
                name="msg_by_status",
            ),
        ),
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(condition=models.Q(("campaign__isnull", True)), fields=["id"], name="msg_single"),
        ),
        DropForeignKeyIndexWithoutBlockingSends(
            model_name="outboundmessage",
            name="campaign",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="messages",
                to="campaigns.campaign",
            ),
        ),
        DropForeignKeyIndexWithoutBlockingSends(
            model_name="outboundmessage",
            name="channel",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="messages",
                to="providers.channel",
            ),
        ),
    ]

"""Replies by the message they answer (partial: only replies linked to one). Without it, deleting
outbound messages checked every reply for each deleted message (InboundMessage.in_reply_to is
SET_NULL). Built concurrently on PostgreSQL: replies go on being stored meanwhile."""

from django.db import migrations, models

from campaigns.concurrent_indexes import AddIndexWithoutBlockingSends


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("campaigns", "0024_inbox_keyword_index"),
    ]

    operations = [
        AddIndexWithoutBlockingSends(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("in_reply_to__isnull", False)),
                fields=["in_reply_to"],
                name="inbound_answering",
            ),
        ),
    ]

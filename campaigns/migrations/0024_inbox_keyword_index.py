"""The inbox's "keyword replies" filter: the conversations with a reply that was a keyword, from a
partial index of those replies alone (a few per cent of them). Built concurrently on PostgreSQL
(campaigns/concurrent_indexes.py): replies go on being stored meanwhile."""

from django.db import migrations, models

from campaigns.concurrent_indexes import AddIndexWithoutBlockingSends


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("campaigns", "0023_webhook_events_per_request"),
    ]

    operations = [
        AddIndexWithoutBlockingSends(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("keyword", ""), _negated=True),
                fields=["conversation"],
                name="inbound_keyword_replies",
            ),
        ),
    ]

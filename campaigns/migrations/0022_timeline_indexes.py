"""A contact's timeline reads a page of a number's or a contact's messages newest first: the (to, id)
and (contact, id) indexes, which take over from the column's and the foreign key's own (dropped once
the new ones exist). A campaign's page counts the numbers that replied and that opted out by
replying from two reply indexes by campaign. Built concurrently on PostgreSQL
(campaigns/concurrent_indexes.py): sends go on meanwhile."""

import django.db.models.deletion
from django.db import migrations, models

from campaigns.concurrent_indexes import AddIndexWithoutBlockingSends, DropForeignKeyIndexWithoutBlockingSends


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("campaigns", "0021_whatsapp_templates_for_marketing"),
        ("contacts", "0008_suppressed_numbers"),
    ]

    operations = [
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(fields=["to", "id"], name="msg_by_number"),
        ),
        AddIndexWithoutBlockingSends(
            model_name="outboundmessage",
            index=models.Index(fields=["contact", "id"], name="msg_by_contact"),
        ),
        AddIndexWithoutBlockingSends(
            model_name="inboundmessage",
            index=models.Index(fields=["campaign", "phone"], name="inbound_numbers_by_campaign"),
        ),
        AddIndexWithoutBlockingSends(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("keyword", "STOP")), fields=["campaign", "phone"], name="inbound_stops_by_campaign"
            ),
        ),
        DropForeignKeyIndexWithoutBlockingSends(
            model_name="outboundmessage",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="messages",
                to="contacts.contact",
            ),
        ),
        # The plain index on the number and PostgreSQL's LIKE one beside it: (to, id) serves equality,
        # and the message log's prefix search is a range of it (campaigns/admin/message_log.py).
        DropForeignKeyIndexWithoutBlockingSends(
            model_name="outboundmessage",
            name="to",
            field=models.CharField(help_text="E.164", max_length=16),
        ),
    ]

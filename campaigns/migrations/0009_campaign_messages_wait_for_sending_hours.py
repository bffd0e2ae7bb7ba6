"""Campaign messages wait for their recipients' sending hours as scheduled rows: their own index;
the single messages' due index leaves them out (a paused campaign's would otherwise be scanned)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_message_resolution"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="outboundmessage",
            name="msg_scheduled_due",
        ),
        migrations.AddIndex(
            model_name="outboundmessage",
            index=models.Index(
                condition=models.Q(("campaign__isnull", True), ("status", "scheduled")),
                fields=["send_at"],
                name="msg_scheduled_due",
            ),
        ),
        migrations.AddIndex(
            model_name="outboundmessage",
            index=models.Index(
                condition=models.Q(("campaign__isnull", False), ("status", "scheduled")),
                fields=["campaign", "send_at"],
                name="msg_campaign_waiting",
            ),
        ),
    ]

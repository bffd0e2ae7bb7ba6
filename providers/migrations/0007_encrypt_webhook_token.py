"""A channel's webhook token (the secret in its callback URLs) is encrypted like its credentials,
and found by its SHA-256 hash. Existing tokens, and so the URLs set at the providers, stay the same.

The token loses its unique index first and gets it back last when migrating backwards, so that
re-adding the plain column (one default for every row) cannot collide before the rows are filled.
"""

import hashlib

from django.db import migrations, models

import providers.credentials
import providers.models


def encrypt_tokens(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.only("pk", "webhook_token").iterator():
        Channel.objects.filter(pk=channel.pk).update(
            encrypted_webhook_token=channel.webhook_token,
            webhook_token_hash=hashlib.sha256(channel.webhook_token.encode("utf-8")).hexdigest(),
        )


def decrypt_tokens(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.only("pk", "encrypted_webhook_token").iterator():
        Channel.objects.filter(pk=channel.pk).update(webhook_token=channel.encrypted_webhook_token)


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0006_channel_callback_ips"),
    ]

    operations = [
        migrations.AlterField(
            model_name="channel",
            name="webhook_token",
            field=models.CharField(default=providers.models.new_channel_key, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="channel",
            name="encrypted_webhook_token",
            field=providers.credentials.EncryptedTextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="channel",
            name="webhook_token_hash",
            field=models.CharField(default="", editable=False, max_length=64),
        ),
        migrations.RunPython(encrypt_tokens, decrypt_tokens),
        migrations.RemoveField(model_name="channel", name="webhook_token"),
        migrations.RenameField(model_name="channel", old_name="encrypted_webhook_token", new_name="webhook_token"),
        migrations.AlterField(
            model_name="channel",
            name="webhook_token",
            field=providers.credentials.EncryptedTextField(default=providers.models.new_channel_key, editable=False),
        ),
        migrations.AlterField(
            model_name="channel",
            name="webhook_token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]

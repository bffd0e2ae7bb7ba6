"""Channels' credentials move from a plain JSON column to a Fernet-encrypted one.

Forwards: every row's credentials are copied into the new encrypted column (under the newest key
of CREDENTIALS_KEY), the plain column is dropped, and the new one takes its name. Backwards: the
same, decrypting. No row is left holding both.
"""

from django.db import migrations

import providers.credentials


def encrypt_rows(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.only("pk", "credentials").iterator():
        Channel.objects.filter(pk=channel.pk).update(encrypted_credentials=channel.credentials or {})


def decrypt_rows(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.only("pk", "encrypted_credentials").iterator():
        Channel.objects.filter(pk=channel.pk).update(credentials=channel.encrypted_credentials or {})


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0003_channel_price_per_segment"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="encrypted_credentials",
            field=providers.credentials.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
        migrations.RemoveField(model_name="channel", name="credentials"),
        migrations.RenameField(model_name="channel", old_name="encrypted_credentials", new_name="credentials"),
    ]

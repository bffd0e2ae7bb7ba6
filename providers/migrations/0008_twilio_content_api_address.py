"""Twilio WhatsApp channels may now send their credentials to Twilio's Content API too (template sync).

A channel's credentials go only to the addresses they were typed in for. For Twilio WhatsApp
channels whose credentials were typed for Twilio itself (https://api.twilio.com, no override), the
Content API at https://content.twilio.com is the same account at the same company, so it is added.
A channel pointed elsewhere (a proxy, a fake) lists templates from that same address, which it
already may use.
"""

from django.db import migrations

TWILIO = "https://api.twilio.com"
CONTENT = "https://content.twilio.com"


def allow_content_api(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.filter(provider="twlowa", api_base_url="").only("pk", "credentials_entered_for"):
        origins = channel.credentials_entered_for.split()
        if TWILIO in origins and CONTENT not in origins:
            Channel.objects.filter(pk=channel.pk).update(credentials_entered_for=" ".join([*origins, CONTENT]))


class Migration(migrations.Migration):
    dependencies = [("providers", "0007_encrypt_webhook_token")]

    operations = [migrations.RunPython(allow_content_api, migrations.RunPython.noop)]

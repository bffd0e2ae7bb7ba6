"""Each channel remembers the origins its credentials were entered for; api_base_url takes http(s) only.

Existing channels' credentials are taken to be for where the channel points today (the provider's
own addresses, its api_base_url, a Twilio channel's options.bulk_api_base_url), as the providers'
code of this release computes them; a later change of address needs them typed again.
"""

from urllib.parse import urlsplit

from django.db import migrations, models

import providers.destinations

# The providers' own addresses in this release, for channels without an api_base_url.
DEFAULTS = {
    "twlo": ["https://api.twilio.com", "https://preview.messaging.twilio.com"],
    "twlowa": ["https://api.twilio.com", "https://preview.messaging.twilio.com"],
    "gswa": ["https://api.gupshup.io"],
}


def origin(url):
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def destinations(channel):
    base = (channel.api_base_url or "").strip()
    options = channel.options if isinstance(channel.options, dict) else {}
    if channel.provider in ("twlo", "twlowa"):
        defaults = DEFAULTS[channel.provider]
        urls = [base or defaults[0], str(options.get("bulk_api_base_url") or "") or base or defaults[1]]
    elif channel.provider == "gswa":
        urls = [base or DEFAULTS["gswa"][0]]
    else:
        urls = [base]
    return sorted({origin(url) for url in urls if url} - {""})


def bind_existing(apps, schema_editor):
    Channel = apps.get_model("providers", "Channel")
    for channel in Channel.objects.all().iterator():
        if channel.credentials:
            Channel.objects.filter(pk=channel.pk).update(credentials_entered_for=" ".join(destinations(channel)))


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0004_encrypt_channel_credentials"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="credentials_entered_for",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AlterField(
            model_name="channel",
            name="api_base_url",
            field=models.URLField(
                blank=True,
                help_text="Override the provider's API address (a reseller host, or a local fake): http(s) only. Changing its host means typing the credentials again: they are only sent where they were entered for.",
                validators=[providers.destinations.validate_api_base_url],
            ),
        ),
        migrations.RunPython(bind_existing, migrations.RunPython.noop),
    ]

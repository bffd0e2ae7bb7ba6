"""Whether a WhatsApp template may be sent, from the latest sync: the reason in staff words, or ''.

Until a channel's templates have been synced once, nothing is known and nothing is refused here
(the provider's own answer then decides, as before syncing existed).
"""

from __future__ import annotations

from django.utils import formats, timezone

from campaigns.models import TemplateSync, WhatsAppTemplate
from providers.models import Channel
from providers.registry import provider_for


def template_refusal(channel: Channel, provider_template: dict | None) -> str:
    """Why the template named in ``provider_template`` ({"id": ...}) cannot go on ``channel``; '' if it can."""
    template_id = str((provider_template or {}).get("id") or "")
    if not template_id or not provider_for(channel).lists_templates:
        return ""
    synced = TemplateSync.objects.filter(channel=channel, last_worked_at__isnull=False).first()
    if synced is None:
        return ""
    provider = channel.get_provider_display()
    found = WhatsAppTemplate.objects.filter(channel=channel, provider_id=template_id).first()
    if found is None:
        return (
            f"The WhatsApp template {template_id} is not one of the {synced.listed} templates {provider} lists "
            f"for {channel.name!r} (synced {shown_at(synced.last_worked_at)}): choose a listed one, or sync again."
        )
    if found.missing_since is not None:
        return (
            f"The WhatsApp template “{found}” was deleted at {provider}: no sync has listed it since "
            f"{shown_at(found.missing_since)}."
        )
    if found.status != "approved":
        reason = f": {found.rejection_reason}" if found.rejection_reason else ""
        return (
            f"The WhatsApp template “{found}” is {found.status or 'not approved'} at {provider}, not approved{reason}."
        )
    return ""


def shown_at(moment) -> str:
    """A sync's time as the template pages and the launch refusal say it: in the viewer's zone, named."""
    local = timezone.localtime(moment)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"

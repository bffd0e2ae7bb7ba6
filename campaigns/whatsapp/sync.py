"""Syncing a channel's WhatsApp templates: on demand (the channel and template pages) and hourly (rqcron).

A sync lists every template the provider has, stores each by its provider id, and marks those no
longer listed as missing (never deleting them: campaigns and messages name them). A sync that fails
keeps the last good list and records why. Providers limit how often we may ask (Gupshup: 10 a
minute per app); a sync asked for too soon, or after a 429, waits for its turn as a scheduled job.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

import django_rq
from django.db import transaction
from django.utils import timezone

from campaigns.models import TemplateSync, WhatsAppTemplate
from providers.models import Channel
from providers.registry import provider_classes, provider_for
from providers.templates import ListedTemplate, TemplateListUnavailable

log = logging.getLogger(__name__)

# The least time between two lists of one channel's templates: Gupshup allows 10 a minute per app.
MIN_SECONDS_BETWEEN = {"gswa": 6.0}
DEFAULT_MIN_SECONDS = 1.0
# How long to wait after a 429 that named no time.
DEFAULT_RETRY_SECONDS = 60.0
STORED_FIELDS = [name for name in ListedTemplate.__dataclass_fields__ if name != "provider_id"]


def syncing_channels():
    """The channels whose provider lists templates."""
    codes = [code for code, cls in provider_classes().items() if cls.lists_templates]
    return Channel.objects.filter(provider__in=codes, is_active=True)


def request_sync(channel: Channel) -> None:
    """Queue a sync of this channel's templates (at once, or when the provider lets us ask again)."""
    queue = django_rq.get_queue("default")
    wait = _seconds_to_wait(channel)
    if wait > 0:
        # A job that finds it is still too soon queues itself again, so at most one list per interval.
        queue.enqueue_in(timedelta(seconds=wait), sync_templates_job, channel.pk)
    else:
        queue.enqueue(sync_templates_job, channel.pk)


def sync_all_templates() -> int:
    """rqcron, hourly (TEMPLATE_SYNC_MINUTES): queue a sync of every WhatsApp channel."""
    channels = list(syncing_channels())
    for channel in channels:
        request_sync(channel)
    return len(channels)


def sync_templates_job(channel_id: int) -> str:
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return "channel deleted"
    return sync_templates(channel)


def sync_templates(channel: Channel) -> str:
    """List and store the channel's templates now; returns what happened, in staff words."""
    state, _ = TemplateSync.objects.get_or_create(channel=channel)
    now = timezone.now()
    wait = _seconds_to_wait(channel, state)
    if wait > 0:
        request_sync(channel)
        return f"waiting {wait:.0f} s: {channel.get_provider_display()} limits how often templates are listed"
    state.last_tried_at = now
    try:
        listed = provider_for(channel).list_templates()
    except TemplateListUnavailable as error:
        return _failed(channel, state, error)
    with transaction.atomic():
        store(channel, listed, now)
        state.last_worked_at, state.last_error, state.listed, state.not_before = now, "", len(listed), None
        state.save()
    log.info("synced %s templates of channel %s", len(listed), channel.pk)
    return f"{len(listed)} templates listed"


def store(channel: Channel, listed: list[ListedTemplate], now) -> None:
    """Create or update each listed template; mark the ones no longer listed as missing."""
    unique = {template.provider_id: template for template in listed}  # a provider listing one twice
    existing = {t.provider_id: t for t in WhatsAppTemplate.objects.filter(channel=channel)}
    changed, new = [], []
    for provider_id, template in unique.items():
        values = {name: _fit(name, value) for name, value in asdict(template).items() if name in STORED_FIELDS}
        row = existing.get(provider_id)
        if row is None:
            new.append(WhatsAppTemplate(channel=channel, provider_id=provider_id, last_seen_at=now, **values))
            continue
        for name, value in values.items():
            setattr(row, name, value)
        row.last_seen_at, row.missing_since = now, None
        changed.append(row)
    WhatsAppTemplate.objects.bulk_create(new, batch_size=500)
    WhatsAppTemplate.objects.bulk_update(changed, [*STORED_FIELDS, "last_seen_at", "missing_since"], batch_size=500)
    WhatsAppTemplate.objects.filter(channel=channel, missing_since__isnull=True).exclude(
        provider_id__in=list(unique)
    ).update(missing_since=now)


def _fit(name: str, value):
    """Provider text cut to what the column holds (a name longer than WhatsApp allows is still shown)."""
    limit = getattr(WhatsAppTemplate._meta.get_field(name), "max_length", None)
    return value[:limit] if limit and isinstance(value, str) else value


def _failed(channel: Channel, state: TemplateSync, error: TemplateListUnavailable) -> str:
    state.last_error = error.reason
    if error.retry_after is not None or "429" in error.reason:
        seconds = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_SECONDS
        state.not_before = timezone.now() + timedelta(seconds=seconds)
    state.save()
    log.warning("template sync of channel %s failed: %s", channel.pk, error.reason)
    if state.not_before:
        request_sync(channel)  # asked to wait: try again when allowed
    return f"failed: {error.reason}"


def _seconds_to_wait(channel: Channel, state: TemplateSync | None = None) -> float:
    state = state or TemplateSync.objects.filter(channel=channel).first()
    if state is None:
        return 0.0
    now = timezone.now()
    waits = [0.0]
    if state.not_before:
        waits.append((state.not_before - now).total_seconds())
    if state.last_tried_at:
        least = MIN_SECONDS_BETWEEN.get(channel.provider, DEFAULT_MIN_SECONDS)
        waits.append(least - (now - state.last_tried_at).total_seconds())
    return max(waits)

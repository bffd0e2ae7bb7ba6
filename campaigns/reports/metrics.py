"""What Prometheus reads about sending, gathered when it scrapes (messaging_site/metrics.py serves it).

Built for a message table of millions of rows and workers in separate processes:

- the counters the pipeline keeps in one Redis hash (campaigns/pipeline/counters.py): outcomes
  per channel of each claim and each receipt;
- a few database figures that only read small, indexed parts: messages in doubt (the partial
  indexes of ``unknown`` and ``sending``) and each running campaign's messages by state (the
  campaign/status index), at most RUNNING_CAMPAIGNS_SHOWN campaigns;
- channels: configured rate, paused or not, and how far ahead the rate limiter is booked;
- the API's shared list of messages waiting for a drain job;
- the receipts and replies the webhooks took that wait for the receiving worker, and the age of
  the oldest (two reads of that table's primary key).

Queue lengths, workers and failed jobs come from django-rq's own collector, served beside this one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from campaigns.models import Campaign, OutboundMessage, WebhookEndpoint, WebhookEvent
from campaigns.pipeline.batching import PENDING
from campaigns.pipeline.counters import COUNTERS
from campaigns.pipeline.queueing import connection
from campaigns.receiving import backlog
from providers.models import Channel
from providers.ratelimit import bucket_keys

log = logging.getLogger(__name__)
Status = OutboundMessage.Status
RUNNING_CAMPAIGNS_SHOWN = 20


class MessagingCollector:
    """A prometheus_client collector: every figure read at scrape time (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        channels = {channel.pk: channel for channel in Channel.objects.all()}
        yield from self.outcome_counters(channels)
        yield self.in_doubt(channels)
        yield from self.running_campaigns()
        yield from self.channel_state(channels)
        yield self.api_pending()
        yield from self.receiving_backlog()
        yield self.events_pending()

    def outcome_counters(self, channels: dict[int, Channel]) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "messaging_message_outcomes",
            "Messages by what the pipeline or a receipt made of them (sent, failed, unknown, queued again, "
            "delivered...), per channel, since Redis last lost its data.",
            labels=["channel", "outcome"],
        )
        try:
            counters = connection().hgetall(COUNTERS)
        except RedisError:
            counters = {}
        for key, value in sorted(counters.items()):
            channel_id, _, outcome = key.decode().partition(":")
            outcomes.add_metric([_channel_label(channels, channel_id), outcome], int(value))
        yield outcomes

    def in_doubt(self, channels: dict[int, Channel]) -> Metric:
        gauge = GaugeMetricFamily(
            "messaging_messages_in_doubt",
            "Messages a person must settle (unknown), and messages in sending: stuck when past "
            "SENDING_STALE_SECONDS, else in flight.",
            labels=["channel", "state"],
        )
        stale = timezone.now() - timedelta(seconds=settings.SENDING_STALE_SECONDS)
        rows = (
            OutboundMessage.objects.filter(status__in=[Status.UNKNOWN, Status.SENDING])
            .order_by()
            .values("channel_id")
            .annotate(
                unknown=Count("id", filter=Q(status=Status.UNKNOWN)),
                stuck=Count("id", filter=Q(status=Status.SENDING, claimed_at__lte=stale)),
                in_flight=Count("id", filter=Q(status=Status.SENDING, claimed_at__gt=stale)),
            )
        )
        for row in rows:
            label = _channel_label(channels, row["channel_id"])
            for state in ("unknown", "stuck", "in_flight"):
                gauge.add_metric([label, state], row[state])
        return gauge

    def running_campaigns(self) -> Iterator[Metric]:
        recipients = GaugeMetricFamily(
            "messaging_campaign_recipients", "Recipients of each running campaign.", labels=["campaign", "channel"]
        )
        by_status = GaugeMetricFamily(
            "messaging_campaign_messages", "A running campaign's messages by state.", labels=["campaign", "status"]
        )
        done = GaugeMetricFamily(
            "messaging_campaign_progress_ratio",
            "Share of a running campaign's recipients no longer waiting to be sent.",
            labels=["campaign"],
        )
        running = Campaign.objects.filter(status=Campaign.Status.RUNNING).select_related("channel")
        for campaign in running.order_by("started_at", "id")[:RUNNING_CAMPAIGNS_SHOWN]:
            label = f"{campaign.pk} {campaign.name}"
            recipients.add_metric([label, campaign.channel.name], campaign.recipient_count)
            counts = dict(campaign.messages.order_by().values_list("status").annotate(n=Count("id")))
            for status in Status.values:
                by_status.add_metric([label, status], counts.get(status, 0))
            waiting = sum(counts.get(s, 0) for s in (Status.SCHEDULED, Status.QUEUED, Status.SENDING))
            total = campaign.recipient_count or sum(counts.values())
            done.add_metric([label], (total - waiting) / total if total else 0.0)
        yield from (recipients, by_status, done)

    def channel_state(self, channels: dict[int, Channel]) -> Iterator[Metric]:
        rate = GaugeMetricFamily("messaging_channel_rate_limit", "Messages per second allowed.", labels=["channel"])
        paused = GaugeMetricFamily("messaging_channel_paused", "1 while a channel is paused.", labels=["channel"])
        booked = GaugeMetricFamily(
            "messaging_channel_booked_ahead_seconds",
            "How far ahead of now the channel's rate limiter has booked sends (0: idle).",
            labels=["channel"],
        )
        ahead = _booked_ahead(list(channels.values()))
        for channel in channels.values():
            label = _channel_label(channels, channel.pk)
            rate.add_metric([label], float(channel.rate_limit or 0))
            paused.add_metric([label], 1.0 if channel.paused_at else 0.0)
            booked.add_metric([label], ahead.get(channel.pk, 0.0))
        yield from (rate, paused, booked)

    def api_pending(self) -> Metric:
        gauge = GaugeMetricFamily("messaging_api_messages_pending", "API messages waiting for a drain job.")
        try:
            gauge.add_metric([], connection().llen(PENDING))
        except RedisError:
            pass
        return gauge

    def receiving_backlog(self) -> Iterator[Metric]:
        waiting = backlog()
        rows = GaugeMetricFamily(
            "messaging_receiving_backlog_events",
            f"Receipts and replies taken by the webhooks, not applied yet (counted up to {waiting.cap:,}).",
        )
        rows.add_metric([], waiting.waiting)
        age = GaugeMetricFamily(
            "messaging_receiving_backlog_oldest_seconds",
            "How long the oldest receipt or reply not applied yet has waited (0: none waits).",
        )
        oldest = (timezone.now() - waiting.oldest_at).total_seconds() if waiting.oldest_at else 0.0
        age.add_metric([], max(0.0, oldest))
        yield from (rows, age)

    def events_pending(self) -> Metric:
        """Event webhooks waiting in the outbox (counted up to a bound: the partial index holds only these)."""
        gauge = GaugeMetricFamily(
            "messaging_webhook_events_pending",
            f"Event webhooks not delivered yet, per endpoint (counted up to {EVENTS_COUNTED_UP_TO:,}).",
            labels=["endpoint"],
        )
        # By id: an endpoint's URL may carry a token of the customer's.
        for endpoint_id in WebhookEndpoint.objects.values_list("pk", flat=True):
            waiting = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, endpoint_id=endpoint_id)
            gauge.add_metric([str(endpoint_id)], waiting.order_by()[:EVENTS_COUNTED_UP_TO].count())
        return gauge


EVENTS_COUNTED_UP_TO = 100_000


def _channel_label(channels: dict[int, Channel], channel_id: object) -> str:
    channel = channels.get(int(channel_id)) if str(channel_id).isdigit() else None
    return f"{channel_id} {channel.name}" if channel else str(channel_id)


def _booked_ahead(channels: list[Channel]) -> dict[int, float]:
    """Seconds from now (the Redis clock) to each channel's next free send time."""
    if not channels:
        return {}
    try:
        pipe = connection().pipeline(transaction=False)
        pipe.time()
        for channel in channels:
            pipe.hget(bucket_keys(channel)[0], "due")
        now_parts, *dues = pipe.execute()
    except RedisError:
        return {}
    now = now_parts[0] + now_parts[1] / 1_000_000
    return {channel.pk: max(0.0, float(due) - now) for channel, due in zip(channels, dues, strict=True) if due}

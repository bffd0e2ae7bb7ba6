"""The admin index as a dashboard: today's sends, delivery rate, what is coming, running, and needs a person.

Built for tables of millions of messages: no query counts more than today's messages (found by a
binary search on the primary key, as created_at has no index) or one running campaign's waiting
messages (the campaign/status index), and every list is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from campaigns import analytics
from campaigns.admin.unknown_outcomes import may_resolve
from campaigns.conversations.inbox import unread_summary
from campaigns.models import Campaign, OutboundMessage, WebhookEndpoint
from campaigns.models.staff import zone_label
from campaigns.receiving import backlog
from messaging_site.permissions import may_operate
from providers.models import Channel

Status = OutboundMessage.Status
HANDED_OVER = [Status.SENT, Status.DELIVERED, Status.READ, Status.UNDELIVERED]
DELIVERED = [Status.DELIVERED, Status.READ]
FINAL = [Status.DELIVERED, Status.READ, Status.UNDELIVERED, Status.FAILED]
WAITING = [Status.SCHEDULED, Status.QUEUED, Status.SENDING]
LIST_LENGTH = 8
UNKNOWN_SHOWN_UP_TO = 10_000
# Receipts and replies taken but not applied: a person should look when more than this many wait, or
# the oldest has waited longer than this (the receiving worker applies thousands a second).
RECEIVING_BACKLOG_ROWS = 10_000
RECEIVING_BACKLOG_SECONDS = 60
LATE_HOLD = getattr(Campaign, "LATE_HOLD", "Waiting for you: ")


@dataclass
class Today:
    since: datetime
    by_status: dict[str, int]

    def total(self, statuses: list[str]) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)

    @property
    def handed_over(self) -> int:
        return self.total(HANDED_OVER)

    @property
    def failed(self) -> int:
        return self.total([Status.FAILED])

    @property
    def waiting(self) -> int:
        return self.total(WAITING)

    @property
    def with_outcome(self) -> int:
        return self.total(FINAL)

    @property
    def delivered(self) -> int:
        return self.total(DELIVERED)

    @property
    def delivery_rate(self) -> int | None:
        """Per cent of today's messages with a final outcome that were delivered (None: none yet)."""
        return round(100 * self.delivered / self.with_outcome) if self.with_outcome else None


@dataclass
class Item:
    """One line of the dashboard: what, the detail, and where to deal with it."""

    title: str
    detail: str = ""
    url: str = ""
    percent: int | None = None
    kind: str = ""
    extra: dict = field(default_factory=dict)


def dashboard_context(request: HttpRequest) -> dict:
    user = request.user
    sees_campaigns = user.has_perm("campaigns.view_campaign")
    sees_messages = user.has_perm("campaigns.view_outboundmessage")
    now = timezone.now()
    return {
        "dashboard": {
            "zone": zone_label(),
            "today": todays_messages(start_of_today()) if sees_messages else None,
            "upcoming": upcoming_campaigns(now, user) if sees_campaigns else None,
            "running": running_campaigns(user) if sees_campaigns else None,
            "attention": needs_attention(user, sees_campaigns, sees_messages),
            "calendar_url": reverse("admin:campaigns_campaign_calendar") if sees_campaigns else "",
            "messages_url": reverse("admin:campaigns_outboundmessage_changelist") if sees_messages else "",
            "operations": operations_links(user),
            **trends(request, sees_campaigns, sees_messages),
        }
    }


TREND_PERIODS = (7, 30)


def trends(request: HttpRequest, sees_campaigns: bool, sees_messages: bool) -> dict:
    """The last 7 or 30 days per day (from the hourly tallies, campaigns/analytics/) and recent
    campaigns side by side: a few hundred tally rows whatever the size of the message table."""
    found: dict[str, object] = {}
    if sees_messages:
        asked = request.GET.get("days", "7")
        days = int(asked) if asked in ("7", "30") else 7
        if asked != str(days):
            messages.warning(request, f"days: {asked[:20]!r} is not 7 or 30; the last 7 days are shown.")
        found["chart"] = {**analytics.daily(days), "zone": zone_label()}
        index = reverse("admin:index")
        found["periods"] = [(n, f"{index}?days={n}#dashboard-trends") for n in TREND_PERIODS]
    if sees_campaigns:
        found["compare"] = [
            {**row, "url": campaign_url(row["campaign"]), "started": local(row["campaign"].started_at)}
            for row in analytics.recent_campaigns(LIST_LENGTH)
        ]
    return found


def operations_links(user) -> list[tuple[str, str]]:
    """For administrators: the queues and workers (django-rq), the Prometheus metrics, unknown outcomes."""
    links = []
    if may_operate(user):  # only links that open for this person
        links = [("Queues and workers", reverse("django_rq:home")), ("Metrics (Prometheus)", reverse("metrics"))]
    if may_resolve(user):
        links.append(("Unknown outcomes", reverse("admin:campaigns_outboundmessage_unknown")))
    return links


# --- today ----------------------------------------------------------------------------------------


def start_of_today() -> datetime:
    """Midnight in the staff member's zone (the one the middleware activated)."""
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def first_id_since(moment: datetime) -> int | None:
    """The first message created at or after ``moment``: ids grow with creation time, so a binary search
    on the primary key finds it in about 30 indexed look-ups, however many rows there are."""
    rows = OutboundMessage.objects.order_by()
    last = rows.order_by("-id").values_list("id", "created_at").first()
    if last is None or last[1] < moment:
        return None
    low, high = rows.order_by("id").values_list("id", flat=True).first(), last[0]
    while low < high:
        middle = (low + high) // 2
        first_id, created = rows.filter(id__gte=middle).order_by("id").values_list("id", "created_at").first()
        if created >= moment:
            high = middle
        else:
            low = first_id + 1
    return rows.filter(id__gte=low).order_by("id").values_list("id", flat=True).first()


def todays_messages(since: datetime) -> Today:
    first = first_id_since(since)
    if first is None:
        return Today(since=since, by_status={})
    counts = OutboundMessage.objects.filter(id__gte=first).order_by().values_list("status").annotate(n=Count("id"))
    return Today(since=since, by_status=dict(counts))


# --- campaigns ------------------------------------------------------------------------------------


def campaign_url(campaign: Campaign) -> str:
    page = "bulkjob" if campaign.kind == Campaign.Kind.BULK_API else "campaign"
    return reverse(f"admin:campaigns_{page}_change", args=[campaign.pk])


def campaign_title(campaign: Campaign) -> str:
    return f"API: {campaign.name}" if campaign.kind == Campaign.Kind.BULK_API else campaign.name


def local(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%a %d %b, %H:%M}" if moment else ""


def upcoming_campaigns(now: datetime, user) -> list[Item]:
    scheduled = (
        Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__gte=now)
        .select_related("channel")
        .order_by("scheduled_at")[:LIST_LENGTH]
    )
    return [Item(campaign_title(c), f"{local(c.scheduled_at)} · {c.channel.name}", campaign_url(c)) for c in scheduled]


def running_campaigns(user) -> list[Item]:
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING).select_related("channel")
    items = []
    for campaign in running.order_by("started_at", "id")[:LIST_LENGTH]:
        waiting = campaign.messages.filter(status__in=WAITING).count()  # the (campaign, status) index
        total = campaign.recipient_count
        if campaign.fanned_out_at is None or not total:
            items.append(Item(campaign_title(campaign), "preparing recipients", campaign_url(campaign), percent=0))
            continue
        done = max(total - waiting, 0)
        percent = round(100 * done / total)
        detail = f"{done:,} of {total:,} done · {campaign.channel.name}"
        items.append(Item(campaign_title(campaign), detail, campaign_url(campaign), percent=percent))
    return items


# --- needs a person -------------------------------------------------------------------------------


def needs_attention(user, sees_campaigns: bool, sees_messages: bool) -> list[Item]:
    items: list[Item] = []
    items += paused_channels(user)
    if user.has_perm("campaigns.view_conversation"):
        items += unread_replies()
    items += webhook_endpoints_off(user)
    items += receiving_backlog(user)
    if sees_messages:
        items += unknown_outcomes(user)
    if sees_campaigns:
        items += campaigns_waiting_for_a_person()
    return items


def paused_channels(user) -> list[Item]:
    can_open = user.has_perm("providers.view_channel")
    paused = Channel.objects.filter(paused_at__isnull=False).order_by("-paused_at")[:LIST_LENGTH]
    return [
        Item(
            f"Channel {channel.name} is paused",
            f"since {local(channel.paused_at)}: {channel.paused_reason or 'no reason given'}",
            reverse("admin:providers_channel_change", args=[channel.pk]) if can_open else "",
            kind="channel",
        )
        for channel in paused
    ]


def unread_replies() -> list[Item]:
    """Conversations with replies nobody has read yet (counted up to a bound), linking to them in the inbox."""
    unread = unread_summary()
    if not unread.conversations:
        return []
    more = "+" if unread.capped else ""
    replies = f"{unread.replies:,}{more} unread repl{'y' if unread.replies == 1 else 'ies'}"
    return [
        Item(
            f"{unread.conversations:,}{more} conversation(s) with unread replies",
            f"{replies}: read and answer them in the inbox",
            reverse("admin:campaigns_conversation_changelist") + "?unread=yes",
            kind="replies",
        )
    ]


def webhook_endpoints_off(user) -> list[Item]:
    """Endpoints switched off after a day of failures: their systems hear nothing until a person acts."""
    if not user.has_perm("campaigns.view_webhookendpoint"):
        return []
    off = WebhookEndpoint.objects.filter(enabled=False, disabled_at__isnull=False).order_by("-disabled_at")
    return [
        Item(
            f"Webhook endpoint {endpoint.url} was switched off",
            f"at {local(endpoint.disabled_at)} (failing since {local(endpoint.failing_since)}): "
            f"{endpoint.disabled_reason}. Its events wait; fix the receiver, then tick Enabled on its page",
            reverse("admin:campaigns_webhookendpoint_change", args=[endpoint.pk]),
            kind="webhook",
        )
        for endpoint in off[:LIST_LENGTH]
    ]


def receiving_backlog(user) -> list[Item]:
    """Receipts and replies the webhooks took that wait for the receiving worker: many, or for long."""
    waiting = backlog(cap=RECEIVING_BACKLOG_ROWS)
    if not waiting.waiting or waiting.oldest_at is None:
        return []
    age = timezone.now() - waiting.oldest_at
    if not waiting.capped and age.total_seconds() < RECEIVING_BACKLOG_SECONDS:
        return []
    shown = f"{RECEIVING_BACKLOG_ROWS:,}+" if waiting.capped else f"{waiting.waiting:,}"
    detail = (
        f"the oldest for {timesince(waiting.oldest_at)}: message statuses and replies shown here lag behind "
        "until a worker listening to the receiving queue catches up"
    )
    url = reverse("django_rq:home") if may_operate(user) else ""
    if url:
        detail += "; see the job queues"
    what = "receipt or reply" if waiting.waiting == 1 else "receipts and replies"
    return [Item(f"{shown} {what} waiting to be applied", detail, url, kind="receiving")]


def unknown_outcomes(user) -> list[Item]:
    # The msg_unknown partial index holds only these rows; the count stops at a bound regardless.
    found = OutboundMessage.objects.filter(status=Status.UNKNOWN).order_by()[: UNKNOWN_SHOWN_UP_TO + 1].count()
    if not found:
        return []
    shown = f"{UNKNOWN_SHOWN_UP_TO:,}+" if found > UNKNOWN_SHOWN_UP_TO else f"{found:,}"
    if may_resolve(user):  # administrators settle them on their own page, grouped by campaign
        url = reverse("admin:campaigns_outboundmessage_unknown")
        detail = "the provider may or may not have them: check with the provider, then resend or mark them"
    else:
        url = reverse("admin:campaigns_outboundmessage_changelist") + "?status__exact=unknown"
        detail = "the provider may or may not have them: an administrator checks with the provider and settles them"
    return [Item(f"{shown} message(s) with an unknown outcome", detail, url, kind="unknown")]


def campaigns_waiting_for_a_person() -> list[Item]:
    held = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, status_reason__startswith=LATE_HOLD)
    paused = Campaign.objects.filter(status=Campaign.Status.PAUSED)
    items = [
        Item(f"{campaign_title(c)} is waiting for you", c.status_reason.removeprefix(LATE_HOLD), campaign_url(c))
        for c in held.order_by("scheduled_at")[:LIST_LENGTH]
    ]
    items += [
        Item(f"{campaign_title(c)} is paused", c.status_reason or "paused", campaign_url(c), kind="paused")
        for c in paused.order_by("-updated_at")[:LIST_LENGTH]
    ]
    return items

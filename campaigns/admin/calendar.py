"""The campaign calendar: a month or week of campaigns and bulk API jobs, in the staff member's zone.

Three views under /admin/campaigns/campaign/calendar/ (wired in by CampaignAdmin.get_urls):
the page, the JSON feed FullCalendar reads, and the reschedule endpoint a drag posts to.
Times go to the browser as local wall-clock strings without an offset ("2026-12-03T09:00:00")
in the staff member's zone, and FullCalendar is told that zone's name, so it never converts them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign
from campaigns.models.staff import zone_label
from messaging_site.permissions import denied, model_perm, refusal

Status = Campaign.Status
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
LONGEST_RANGE = timedelta(days=62)  # a month view with its leading and trailing weeks fits
MOST_EVENTS = 2000
DEFAULT_TIME = "09:00"  # a day clicked on the calendar: the campaign form starts it then (campaigns/widgets.py)
# Waiting for a person (the late-start guard): a scheduled campaign whose reason starts like this.
LATE_HOLD = getattr(Campaign, "LATE_HOLD", "Waiting for you: ")

# What each colour means; the page's legend and the feed's class names come from here.
LEGEND = [
    ("draft", "Draft (has a date, not launched)"),
    ("scheduled", "Scheduled"),
    ("waiting", "Waiting for you (started late)"),
    ("running", "Running"),
    ("paused", "Paused"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
]


def calendar_urls(model_admin: admin.ModelAdmin) -> list:
    wrap = model_admin.admin_site.admin_view
    return [
        path("calendar/", wrap(lambda r: calendar_page(r, model_admin)), name="campaigns_campaign_calendar"),
        path("calendar/feed/", wrap(lambda r: calendar_feed(r, model_admin)), name="campaigns_campaign_calendar_feed"),
        path(
            "calendar/<int:campaign_id>/reschedule/",
            wrap(lambda r, campaign_id: reschedule(r, model_admin, campaign_id)),
            name="campaigns_campaign_calendar_reschedule",
        ),
    ]


# --- the page ---------------------------------------------------------------------------------


@require_GET
def calendar_page(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise denied(model_perm(Campaign, "view"), "open the campaign calendar")
    today = timezone.localdate()
    month, month_error = chosen_month(request.GET.get("month"), today)
    zone = timezone.get_current_timezone()
    config = {
        "timeZone": zone.key,
        "initialDate": month.isoformat() if month else today.isoformat(),
        "now": timezone.localtime().replace(tzinfo=None, microsecond=0).isoformat(),
        "feedUrl": reverse("admin:campaigns_campaign_calendar_feed"),
        "rescheduleUrl": reverse("admin:campaigns_campaign_calendar_reschedule", args=[0]),
        "addUrl": reverse("admin:campaigns_campaign_add") if model_admin.has_add_permission(request) else "",
        "defaultTime": DEFAULT_TIME,
        "zoneLabel": zone_label(),
    }
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Campaign calendar",
        "opts": model_admin.model._meta,
        "calendar_config": config,
        "legend": LEGEND,
        "zone_label": zone_label(),
        "month_error": month_error,
        "can_add": bool(config["addUrl"]),
        "can_reschedule": model_admin.has_change_permission(request),
    }
    return TemplateResponse(request, "admin/campaigns/calendar.html", context)


def chosen_month(value: str | None, today: date) -> tuple[date | None, str]:
    """?month=YYYY-MM as its first day, or (None, why not) for anything else."""
    if not value:
        return None, ""
    match = MONTH.match(value)
    if match and 1 <= int(match.group(2)) <= 12 and 1900 <= int(match.group(1)) <= 9999:
        return date(int(match.group(1)), int(match.group(2)), 1), ""
    return None, f"month: {value!r} is not a month such as {today:%Y-%m}; showing this month."


# --- the feed ---------------------------------------------------------------------------------


@require_GET
def calendar_feed(request: HttpRequest, model_admin: admin.ModelAdmin) -> JsonResponse:
    """Campaigns and bulk API jobs whose send time falls in [start, end), as FullCalendar events."""
    if not model_admin.has_view_permission(request):
        return JsonResponse({"error": refusal(model_perm(Campaign, "view"), "read the calendar")}, status=403)
    try:
        start, end = feed_range(request.GET.get("start"), request.GET.get("end"))
    except ValueError as problem:
        return JsonResponse({"error": str(problem)}, status=400)
    campaigns = (
        Campaign.objects.filter(scheduled_at__gte=start, scheduled_at__lt=end)
        .select_related("channel")
        .only("id", "name", "kind", "status", "status_reason", "scheduled_at", "fanned_out_at", "channel__name")
        .order_by("scheduled_at", "id")[:MOST_EVENTS]
    )
    can_move = model_admin.has_change_permission(request)
    return JsonResponse([event_for(campaign, can_move) for campaign in campaigns], safe=False)


def feed_range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    start, end = moment("start", start_text), moment("end", end_text)
    if end <= start:
        raise ValueError(f"end: {end_text!r} is not after start {start_text!r}.")
    if end - start > LONGEST_RANGE:
        raise ValueError(f"end: {end_text!r} is more than {LONGEST_RANGE.days} days after start {start_text!r}.")
    return start, end


def moment(field: str, text: str | None) -> datetime:
    """An ISO date or date-time from FullCalendar; without an offset it is in the staff member's zone."""
    if not text:
        raise ValueError(f"{field}: required, a date such as 2026-12-01.")
    try:
        parsed = parse_datetime(text) or datetime.combine(parse_date(text), time())
    except (ValueError, TypeError):
        raise ValueError(f"{field}: {text!r} is not a date such as 2026-12-01.") from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def appearance(campaign: Campaign) -> str:
    if campaign.status == Status.SCHEDULED and campaign.status_reason.startswith(LATE_HOLD):
        return "waiting"
    return campaign.status


def event_for(campaign: Campaign, can_move: bool) -> dict:
    is_api = campaign.kind == Campaign.Kind.BULK_API
    movable = can_move and not is_api and campaign.status == Status.SCHEDULED and campaign.fanned_out_at is None
    look = appearance(campaign)
    page = "admin:campaigns_bulkjob_change" if is_api else "admin:campaigns_campaign_change"
    return {
        "id": str(campaign.pk),
        "title": f"API: {campaign.name}" if is_api else campaign.name,
        "start": local_iso(campaign.scheduled_at),
        "allDay": False,
        "url": reverse(page, args=[campaign.pk]),
        "editable": movable,
        "classNames": [f"campaign-{look}", "bulk-api-job" if is_api else "staff-campaign"],
        "extendedProps": {
            "campaignId": campaign.pk,
            "kind": campaign.kind,
            "status": look,
            "statusLabel": dict(LEGEND).get(look, look).split(" (")[0],
            "channel": campaign.channel.name,
        },
    }


def local_iso(moment_: datetime) -> str:
    return timezone.localtime(moment_).replace(tzinfo=None, microsecond=0).isoformat()


# --- moving a campaign to another day -----------------------------------------------------------


@require_POST
def reschedule(request: HttpRequest, model_admin: admin.ModelAdmin, campaign_id: int) -> JsonResponse:
    """Move a scheduled campaign to another day at the same time of day in the staff zone."""
    if not model_admin.has_change_permission(request):
        return JsonResponse({"error": refusal(model_perm(Campaign, "change"), "move a campaign")}, status=403)
    campaign = Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.CAMPAIGN).first()
    if campaign is None:
        raise Http404(f"campaign: no campaign {campaign_id}.")
    day_text = request.POST.get("date", "")
    try:
        day = parse_date(day_text)
    except ValueError:
        day = None
    if day is None:
        return JsonResponse({"error": f"date: {day_text!r} is not a date such as 2026-12-03."}, status=400)
    if campaign.has_started or campaign.scheduled_at is None:
        return too_late(campaign)
    new_time = timezone.make_aware(datetime.combine(day, timezone.localtime(campaign.scheduled_at).time()))
    if new_time <= timezone.now():
        when = f"{timezone.localtime(new_time):%a %d %b %Y, %H:%M}"
        return JsonResponse({"error": f"date: {day_text} at {when} has passed; choose a later day."}, status=400)
    if not campaign.reschedule(new_time):
        campaign.refresh_from_db(fields=["status", "fanned_out_at"])
        return too_late(campaign)
    text = f"“{campaign.name}” now starts {timezone.localtime(new_time):%a %d %b %Y, %H:%M} {zone_label(at=new_time)}."
    return JsonResponse({"ok": True, "campaign": campaign.pk, "start": local_iso(new_time), "message": text})


def too_late(campaign: Campaign) -> JsonResponse:
    state = campaign.get_status_display().lower()
    return JsonResponse(
        {"error": f"“{campaign.name}” can no longer be moved: it is {state} (only a campaign not started yet can)."},
        status=409,
    )

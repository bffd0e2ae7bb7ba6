"""The campaign page: build, check, launch, schedule, watch, pause, resume, cancel, copy, archive.

Staff campaigns to contact lists; bulk API jobs have their own page (Bulk jobs). The verbs are
POST buttons for the state the campaign is in (campaigns/pipeline/lifecycle.py says which); progress is
polled as JSON every 2 seconds by static/js/campaign-page.js.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from campaigns import analytics, variants
from campaigns.admin import template_picker
from campaigns.admin.calendar import calendar_urls
from campaigns.admin.campaign_form import CampaignForm, prefill_date
from campaigns.admin.variants import VariantInline, save_variants, variants_context
from campaigns.content import prelaunch
from campaigns.content.segments import browser_tables
from campaigns.models import Campaign, CampaignVariant, Conversation, OutboundMessage, WhatsAppTemplate
from campaigns.models.staff import zone_label
from campaigns.models.variant import letter
from campaigns.pipeline import lifecycle
from campaigns.pipeline.sending import render_message
from campaigns.reports import progress, replies
from campaigns.reports.exports import results_export_url
from contacts.admin.deletion import BoundedDeletion
from contacts.models import Contact
from contacts.phones import normalise_phone
from messaging_site import confirm
from messaging_site.permissions import denied, model_perm, require

Status = Campaign.Status
CONTENT_FIELDS = [
    *("channel", "template", "text", "track_links", "link_utm", "duplicates_allowed"),
    *("window_start", "window_end", "max_lateness", "provider_template"),
    *("test_share", "test_wait", "winner_by"),
    *("fallback_channel", "fallback_text", "fallback_after"),
]
# Fields shown, once a campaign has started, as sentences rather than raw values.
READ_ONLY_SHOWN = {
    "scheduled_at": "send_at",
    "window_start": "sending_hours",
    "window_end": "sending_hours",
    "max_lateness": "late_guard",
    "test_wait": "test_wait_shown",
    "whatsapp_template": "whatsapp_template_shown",
    "provider_template_id": "whatsapp_template_shown",
    "preview_contact": "whatsapp_template_shown",
}
VERB_LABELS = {
    "launch": "Launch now",
    "pause": "Pause",
    "resume": "Resume",
    "cancel": "Cancel campaign",
    "duplicate": "Duplicate",
    "archive": "Archive",
}


def method_require_post(view):
    """Verbs change things: only a POST (with its CSRF token, checked by the middleware) does."""

    def only_post(self, request, *args, **kwargs):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return view(self, request, *args, **kwargs)

    return only_post


def shown(moment) -> str:
    """A time as staff read it: in their zone, named."""
    return f"{timezone.localtime(moment):%d %b %Y %H:%M} {zone_label()}"


def editable(campaign: Campaign) -> bool:
    """What it sends and to whom can change until it starts."""
    return campaign.archived_at is None and (
        campaign.status == Status.DRAFT or (campaign.status == Status.SCHEDULED and campaign.fanned_out_at is None)
    )


def send_test(campaign: Campaign, to: str, user) -> OutboundMessage:
    """One message rendered as this campaign's recipient ``to`` would get it (or as its first recipient,
    for a number not in the audience), sent through the normal pipeline; not part of the campaign."""
    contact = Contact.objects.filter(phone=to).first()
    sample = contact or campaign.audience_contacts().reachable().order_by("id").first()
    rendered = render_message(prelaunch.preview_message(campaign, sample, to=to))
    return OutboundMessage.send_one(
        channel=campaign.channel,
        to=to,
        text=rendered.text,
        media_urls=list(rendered.media_urls),
        template=rendered.template,
        user=user,
        sender_label=f"Test of {campaign.name}"[:150],
        contact=contact,
    )


def allowed_verbs(request, campaign: Campaign, may_change: bool) -> list[tuple[str, str]]:
    """The buttons this person may press now: none without "change"; "duplicate" needs "add" too."""
    if not may_change:
        return []
    may_add = request.user.has_perm(model_perm(Campaign, "add"))
    return [
        (verb, VERB_LABELS[verb])
        for verb in lifecycle.verbs_for(campaign)
        if verb in VERB_LABELS and (verb != "duplicate" or may_add)
    ]


def page_context(request, campaign: Campaign, may_change: bool) -> dict:
    """What the campaign page shows around the form: verbs, the pre-launch panel, progress."""
    context = {
        "campaign": campaign,
        "verbs": allowed_verbs(request, campaign, may_change),
        "may_send_test": may_change and request.user.has_perm(model_perm(OutboundMessage, "add")),
        "time_zone_name": zone_label(),
        "send_test_form": SendTestForm(),
        "progress_url": reverse("admin:campaigns_campaign_progress", args=[campaign.pk]),
        "messages_url": reverse("admin:campaigns_outboundmessage_changelist") + f"?campaign__id__exact={campaign.pk}",
        "export_url": export_url(campaign),
        "started": has_started(campaign),
        "sending_hours": hours_text(campaign) if campaign.window_start and campaign.window_end else "",
    }
    if not context["started"]:
        report = context["report"] = prelaunch.report(campaign, at=campaign.scheduled_at)
        if report.problems:  # no Launch button while the panel lists what blocks it
            context["verbs"] = [(verb, label) for verb, label in context["verbs"] if verb != "launch"]
    else:
        snapshot = context["snapshot"] = progress.snapshot(campaign)
        total = snapshot["total"] or 1
        context["bar_parts"] = [(part, n, f"{100 * n / total:.2f}") for part, n in snapshot["parts"].items()]
        context["legend"] = [
            (part, progress.LABELS[part], n)
            for part, n in snapshot["parts"].items()
            if part != "waiting" or n or campaign.window_start is not None  # only where sending hours apply
            if part != "winner" or n  # only while an A/B test's rest waits
        ]
        context.update(replies_context(request, campaign, snapshot["parts"]))
        step = request.GET.get("step", "")
        if refusal := step_refusal(step):
            messages.warning(request, f"{refusal} Shown per 5 minutes (or coarser for a long campaign).")
            step = ""
        context.update(analytics_context(campaign, step))
    context.update(variants_context(request, campaign, may_change))
    context["segment_tables"] = browser_tables()  # the variants' segment counters (campaign-variants.js)
    context["show_save_and_add_another"] = False
    return context


def analytics_context(campaign: Campaign, step: str) -> dict:
    """The analytics panel: funnel, chart (its data for Chart.js), failures, countries, cost."""
    found = analytics.campaign_analytics(campaign, step)
    chart = found["chart"]
    change = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    return {
        "analytics": found,
        "analytics_chart": {**chart, "zone": zone_label()},
        "analytics_steps": [(name, label, f"{change}?step={name}#campaign-analytics") for name, label in STEP_LINKS],
        "analytics_export_url": reverse("admin:campaigns_campaign_analytics_export", args=[campaign.pk]),
        "analytics_url": reverse("admin:campaigns_campaign_analytics", args=[campaign.pk]) + f"?step={chart['step']}",
    }


STEP_LINKS = (("5min", "5 minutes"), ("hour", "Hours"), ("day", "Days"))


def step_refusal(step: str) -> str:
    """Why ``step`` (the analytics chart's ?step=) cannot be used, or "" (empty: the default)."""
    if not step or step in analytics.STEPS:
        return ""
    return f"step: {step[:20]!r} is not one of {', '.join(analytics.STEPS)}."


def replies_context(request, campaign: Campaign, parts: dict[str, int]) -> dict:
    """The replies panel: counts, rate, the latest replies linked to their conversations, opt-outs."""
    went = parts["sent"] + parts["delivered"] + parts["failed"] + parts["unknown"]
    found = replies.summary(campaign, sent=went)
    if not request.user.has_perm(model_perm(Conversation, "view")):  # the inbox's pages would refuse them
        return {"replies": found, "replies_definition": replies.DEFINITION, "inbox_url": ""}
    conversation = url_prefix("admin:campaigns_conversation_change")
    for row in [*found.latest, *found.latest_opt_outs]:
        row["conversation_url"] = conversation.format(row["conversation_id"]) if conversation else ""
    inbox = url_prefix("admin:campaigns_conversation_changelist", with_id=False)
    return {
        "replies": found,
        "replies_definition": replies.DEFINITION,
        "inbox_url": f"{inbox}?campaign={campaign.pk}" if inbox else "",
    }


def url_prefix(name: str, with_id: bool = True) -> str:
    """An admin URL with "{}" for the id, or "" where no such page exists (the inbox, before it does)."""
    from django.urls import NoReverseMatch

    try:
        return reverse(name, args=[0]).replace("/0/", "/{}/") if with_id else reverse(name)
    except NoReverseMatch:
        return ""


def has_started(campaign: Campaign) -> bool:
    """Past the point of checks: running or after, or launched and about to start (not held late)."""
    if campaign.status == Status.DRAFT:
        return False
    if campaign.status != Status.SCHEDULED or campaign.fanned_out_at is not None:
        return True
    due = campaign.scheduled_at is not None and campaign.scheduled_at <= timezone.now()
    return due and not campaign.status_reason.startswith(Campaign.LATE_HOLD)


def hours_text(campaign: Campaign) -> str:
    """'09:00 to 20:00', or '22:00 to 06:00 the next morning' for a window across midnight."""
    start, end = campaign.window_start, campaign.window_end
    return f"{start:%H:%M} to {end:%H:%M}" + (" the next morning" if end <= start else "")


def export_url(campaign: Campaign) -> str:
    """The per-recipient results export (campaigns/reports/exports.py), where it exists."""
    from django.urls import NoReverseMatch

    try:
        return reverse("admin:campaigns_campaign_export_results", args=[campaign.pk, "csv"])
    except NoReverseMatch:
        return ""


class ArchivedFilter(admin.SimpleListFilter):
    title = "archive"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", "Not archived"), ("yes", "Archived"), ("all", "All")]

    def choices(self, changelist):
        # Not the built-in "All" first: no choice made means "Not archived" here.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def value(self):
        return super().value() or "no"

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        return queryset


class ProgressChangeList(ChangeList):
    """Loads every listed campaign's message counts from their tallies at once, not one query per row."""

    def get_results(self, request):
        super().get_results(request)
        counts = progress.counts_for(list(self.result_list))
        for campaign in self.result_list:
            campaign.progress_parts = counts[campaign.pk]


def progress_parts(campaign: Campaign) -> dict[str, int] | None:
    """The list's counts for this campaign (loaded for the whole page by ProgressChangeList)."""
    if not hasattr(campaign, "progress_parts"):
        campaign.progress_parts = progress.counts_for([campaign])[campaign.pk]
    return campaign.progress_parts


COUNTING = "A worker is counting this campaign's messages; reload the page in a moment."


class SendTestForm(forms.Form):
    to = forms.CharField(max_length=40, label="Send a test to")

    def clean_to(self) -> str:
        return normalise_phone(self.cleaned_data["to"], field="to")


@admin.register(Campaign)
class CampaignAdmin(BoundedDeletion, admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    list_display = ["name", "state", "when", "progress_bar", "delivery"]
    list_filter = ["status", ArchivedFilter, "channel"]
    list_select_related = ["channel"]
    search_fields = ["name"]
    # Searched as you type (ContactListAdmin.search_fields): the page loads no list it does not show,
    # so it stays fast with thousands of lists.
    autocomplete_fields = ["lists", "exclude_lists"]
    readonly_fields = ["status", "status_reason", "recipient_count", "started", "finished", "sender_label"]
    actions = ["launch", "pause", "resume", "cancel"]
    fieldsets = [
        ("Message", {"fields": ["name", "channel", "template", "text", "track_links", "link_utm"]}),
        (
            "WhatsApp template",
            {
                "fields": ["whatsapp_template", "provider_template_id", "preview_contact"],
                "classes": ["whatsapp-template"],
                "description": "For a WhatsApp channel: an approved template, chosen by name, with each of its "
                "variables filled from a contact field or a fixed value. The preview shows it as the phone will.",
            },
        ),
        ("Audience", {"fields": ["lists", "exclude_lists", "duplicates_allowed"]}),
        ("When", {"fields": ["scheduled_at", "window_start", "window_end", "max_lateness"]}),
        (
            "A/B test then winner (optional, with variants below)",
            {"fields": ["test_share", "test_wait", "winner_by"], "classes": ["ab-test"]},
        ),
        ("SMS fallback", {"fields": ["fallback_channel", "fallback_text", "fallback_after"]}),
    ]
    inlines = [VariantInline]

    class Media:
        css = {"all": ["css/campaign.css", "css/template_editor.css"]}
        js = [
            "js/template_segments.js",
            "js/campaign-variants.js",
            "js/live_preview.js",
            "js/variable_rows.js",
            "js/campaign_template_picker.js",
        ]

    # --- what the page shows -----------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=Campaign.Kind.CAMPAIGN)

    def get_changelist(self, request, **kwargs):
        return ProgressChangeList

    def get_readonly_fields(self, request, obj: Campaign | None = None) -> list[str]:
        if obj is None or editable(obj):
            return [*self.readonly_fields, *READ_ONLY_SHOWN.values()]
        every = [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]
        return [name for name in every if name != "name"]  # once started only the name changes

    def get_fieldsets(self, request, obj: Campaign | None = None):
        status = ["status", "status_reason", "recipient_count", "started", "finished", "sender_label"]
        if obj is None:
            return self.fieldsets
        if editable(obj):
            return [*self.fieldsets, ("Status", {"fields": status, "classes": ["collapse"]})]
        # Started: the same sections, read-only, with times in the staff member's zone and words for the guard.
        shown_sets = [
            (title, {"fields": list(dict.fromkeys(READ_ONLY_SHOWN.get(name, name) for name in options["fields"]))})
            for title, options in self.fieldsets
        ]
        return [*shown_sets, ("Status", {"fields": status, "classes": ["collapse"]})]

    @admin.display(description="Send at")
    def send_at(self, campaign: Campaign) -> str:
        return shown(campaign.scheduled_at) if campaign.scheduled_at else "—"

    @admin.display(description="Sending hours")
    def sending_hours(self, campaign: Campaign) -> str:
        if campaign.window_start is None:
            return "Any time of day"
        return f"{hours_text(campaign)}, recipient's local time (outside them a message waits for them)"

    @admin.display(description="If it starts late")
    def late_guard(self, campaign: Campaign) -> str:
        if campaign.max_lateness is None:
            return "Always start, however late"
        return f"Wait for a person if more than {lifecycle.duration_words(campaign.max_lateness)} late"

    @admin.display(description="Pick the winner after")
    def test_wait_shown(self, campaign: Campaign) -> str:
        return lifecycle.duration_words(campaign.test_wait) if campaign.test_wait else "—"

    @admin.display(description="WhatsApp template")
    def whatsapp_template_shown(self, campaign: Campaign) -> str:
        """The template a started campaign sends, by name when synced, and its values."""
        chosen = campaign.provider_template
        if not chosen or not chosen.get("id"):
            return "—"
        synced = WhatsAppTemplate.objects.filter(channel_id=campaign.channel_id, provider_id=chosen["id"]).first()
        name = f"“{synced}” ({chosen['id']})" if synced else str(chosen["id"])
        return f"{name}, values: {json.dumps(chosen.get('variables') or {}, ensure_ascii=False)}"

    @admin.display(description="Started")
    def started(self, campaign: Campaign) -> str:
        return shown(campaign.started_at) if campaign.started_at else "—"

    @admin.display(description="Finished")
    def finished(self, campaign: Campaign) -> str:
        return shown(campaign.finished_at) if campaign.finished_at else "—"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        day = prefill_date(request.GET.get("scheduled_at", ""))
        initial["scheduled_at"] = day
        return initial

    # --- changelist columns -------------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def state(self, campaign: Campaign):
        return format_html(
            '<span class="campaign-status status-{}" title="{}">{}</span>',
            campaign.status,
            campaign.status_reason,
            campaign.get_status_display() + (" (archived)" if campaign.archived_at else ""),
        )

    @admin.display(description="When", ordering="scheduled_at")
    def when(self, campaign: Campaign) -> str:
        moment = campaign.started_at or campaign.scheduled_at
        if moment is None:
            return "—"
        return timezone.localtime(moment).strftime("%d %b %Y %H:%M %Z")

    @admin.display(description="Progress")
    def progress_bar(self, campaign: Campaign):
        parts = progress_parts(campaign)
        if parts is None:
            return format_html('<span class="counting" title="{}">counting…</span>', COUNTING)
        total = sum(parts.values())
        if not total:
            return "—"
        segments = format_html_join(
            "",
            '<span class="bar-{}" style="width:{}%" title="{}: {}"></span>',
            (
                (part, f"{100 * number / total:.2f}", progress.LABELS[part], number)
                for part, number in parts.items()
                if number
            ),
        )
        done = total - progress.undone(parts)
        return format_html(
            '<span class="mini-bar">{}</span> {}% <small>of {}</small>', segments, round(100 * done / total), total
        )

    @admin.display(description="Delivered")
    def delivery(self, campaign: Campaign) -> str:
        parts = progress_parts(campaign)
        return "—" if parts is None else progress.delivery_text(parts)

    # --- saving: a time schedules it; never overwrite a state a worker changed meanwhile ------

    def save_model(self, request, obj: Campaign, form, change: bool) -> None:
        if not change:
            obj.kind = Campaign.Kind.CAMPAIGN
            obj.created_by = request.user
            obj.sender_label = request.user.get_username()
            obj.scheduled_at = None  # set by launch() once the lists are saved and checked
            obj.save()
            return
        fields = ["name"] + ([*CONTENT_FIELDS] if editable(obj) else [])
        values = {obj._meta.get_field(name).attname: getattr(obj, obj._meta.get_field(name).attname) for name in fields}
        with transaction.atomic():
            still = Campaign.objects.filter(pk=obj.pk)
            if len(fields) > 1:
                still = still.filter(status__in=[Status.DRAFT, Status.SCHEDULED], fanned_out_at__isnull=True)
            request.campaign_saved = bool(still.update(**values, updated_at=timezone.now()))
        if not request.campaign_saved:
            self.message_user(request, "Too late to change what it sends: the campaign has started.", messages.WARNING)

    def save_related(self, request, form, formsets, change: bool) -> None:
        if getattr(request, "campaign_saved", True) and "lists" in form.fields:
            super().save_related(request, form, formsets, change)
        campaign = Campaign.objects.get(pk=form.instance.pk)
        at = form.cleaned_data.get("scheduled_at") if "scheduled_at" in form.fields else None
        if at is None:
            return
        if campaign.status == Status.DRAFT:
            self._schedule(request, campaign, at)  # also a draft kept with its time until its problems are fixed
        elif "scheduled_at" not in form.changed_data:
            return
        elif campaign.reschedule(at):
            self.message_user(request, f"“{campaign}” now goes at {shown(at)}.", messages.SUCCESS)
        else:
            self.message_user(request, "Too late to change the time: the campaign has started.", messages.WARNING)

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is CampaignVariant:
            save_variants(formset)
        else:
            super().save_formset(request, form, formset, change)

    def _schedule(self, request, campaign: Campaign, at) -> None:
        report = prelaunch.report(campaign, at=at)
        if not report.ready:
            Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=at)  # kept on the draft for next time
            self.message_user(request, f"Saved as a draft, not scheduled: {' '.join(report.problems)}", messages.ERROR)
        elif campaign.launch(at=at):
            self.message_user(request, f"“{campaign}” is scheduled for {shown(at)}.", messages.SUCCESS)

    # --- the page's own views: verbs, progress, test send ---------------------------------------

    def get_urls(self):
        own = [
            path("<int:pk>/act/<str:verb>/", self.admin_site.admin_view(self.act_view), name="campaigns_campaign_act"),
            path(
                "<int:pk>/progress/", self.admin_site.admin_view(self.progress_view), name="campaigns_campaign_progress"
            ),
            path(
                "<int:pk>/analytics.json",
                self.admin_site.admin_view(self.analytics_view),
                name="campaigns_campaign_analytics",
            ),
            path(
                "<int:pk>/analytics.csv",
                self.admin_site.admin_view(self.analytics_export_view),
                name="campaigns_campaign_analytics_export",
            ),
            path(
                "template-preview/",
                self.admin_site.admin_view(require_POST(self.template_preview_view)),
                name="campaigns_campaign_template_preview",
            ),
            path(
                "<int:pk>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="campaigns_campaign_send_test",
            ),
            path(
                "<int:pk>/winner/",
                self.admin_site.admin_view(self.pick_winner_view),
                name="campaigns_campaign_pick_winner",
            ),
        ]
        # "Export results" (campaigns/reports/exports.py) and the calendar (campaigns/admin/calendar.py)
        return [*own, results_export_url(self), *calendar_urls(self), *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "segment_tables": browser_tables()}  # the variants' counters
        return super().add_view(request, form_url, extra_context=extra)

    def template_preview_view(self, request: HttpRequest) -> JsonResponse:
        """The chosen WhatsApp template as the phone shows it, as the form stands (nothing is saved)."""
        if not self.has_view_permission(request):
            raise denied(model_perm(Campaign, "view"), "preview a WhatsApp template")
        return JsonResponse(template_picker.template_preview(request))

    def render_change_form(self, request, context, *args, **kwargs):
        form = context["adminform"].form
        if getattr(form, "variables", None) is not None:
            context.update(
                variables=form.variables,
                contact_fields=form.field_names,
                synced_channels=template_picker.whatsapp_channels(),
                template_preview_url=reverse("admin:campaigns_campaign_template_preview"),
            )
        context["segment_tables"] = browser_tables()  # the fallback text's segment counter (fallback-counter.js)
        return super().render_change_form(request, context, *args, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra = extra_context or {}
        if campaign is not None:
            extra.update(page_context(request, campaign, self.has_change_permission(request, campaign)))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _campaign(self, request, pk: int, change: bool = True, to: str = "change campaigns") -> Campaign:
        campaign = get_object_or_404(self.get_queryset(request), pk=pk)
        check = self.has_change_permission if change else self.has_view_permission
        if not check(request, campaign):
            raise denied(model_perm(Campaign, "change" if change else "view"), to)
        return campaign

    def analytics_view(self, request, pk: int) -> JsonResponse:
        """The analytics panel's figures, for its live refresh (clicks and replies go on after the end)."""
        campaign = self._campaign(request, pk, change=False, to="watch a campaign's analytics")
        if refusal := step_refusal(request.GET.get("step", "")):
            return JsonResponse({"error": refusal}, status=400)
        found = analytics.campaign_analytics(campaign, request.GET.get("step", ""))
        funnel = [{"key": step.key, "number": step.number, "rate_text": step.rate_text} for step in found["funnel"]]
        chart = {**found["chart"], "zone": zone_label()}
        return JsonResponse({"funnel": funnel, "chart": chart, "fallbacks": found["fallbacks"]})  # Decimal as text

    def analytics_export_view(self, request, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=False, to="export a campaign's analytics")
        if refusal := step_refusal(request.GET.get("step", "")):
            return HttpResponse(refusal, status=400, content_type="text/plain; charset=utf-8")
        return analytics.export_analytics(campaign, request.GET.get("step", ""))

    def progress_view(self, request, pk: int) -> JsonResponse:
        campaign = self._campaign(request, pk, change=False, to="watch a campaign's progress")
        return JsonResponse(progress.snapshot(campaign))

    @method_require_post
    def act_view(self, request, pk: int, verb: str) -> HttpResponse:
        campaign = self._campaign(request, pk, to=f"{VERB_LABELS.get(verb, verb).lower()} a campaign")
        if verb == "duplicate":  # a copy is a new campaign
            require(request, model_perm(Campaign, "add"), to="duplicate a campaign")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if verb not in lifecycle.verbs_for(campaign) or verb not in VERB_LABELS:
            self.message_user(
                request,
                f"“{campaign}” is {campaign.get_status_display().lower()}: “{verb}” does not apply now.",
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        who = request.user.get_username()
        if verb == "duplicate":
            copy = lifecycle.duplicate(campaign, request.user)
            self.message_user(request, f"“{copy}” is a new draft copied from “{campaign}”.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[copy.pk]))
        if verb == "launch":
            done = self._launch_now(request, campaign)
        elif verb == "pause":
            done = campaign.pause(f"Paused by {who} at {shown(timezone.now())}.")
        elif verb == "resume":
            done = campaign.resume()
        elif verb == "cancel":
            done = campaign.cancel(f"Cancelled by {who} at {shown(timezone.now())}.")
        else:
            done = lifecycle.archive(campaign)
        if done:
            self.message_user(request, f"“{campaign}”: {VERB_LABELS[verb].lower()} done.", messages.SUCCESS)
        elif verb != "launch":
            self.message_user(request, f"“{campaign}” changed meanwhile; nothing was done.", messages.WARNING)
        return HttpResponseRedirect(change_url)

    def _launch_now(self, request, campaign: Campaign) -> bool:
        report = prelaunch.report(campaign)
        if not report.ready:
            self.message_user(request, f"Not launched: {' '.join(report.problems)}", messages.ERROR)
            return False
        if campaign.status == Status.DRAFT:
            return campaign.launch()
        return campaign.reschedule(None)

    @method_require_post
    def send_test_view(self, request, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, to="send a test of a campaign")
        require(request, model_perm(OutboundMessage, "add"), to="send a test of a campaign")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        form = SendTestForm(request.POST)
        if not form.is_valid():
            errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
            self.message_user(request, f"Test not sent: {errors}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        to = form.cleaned_data["to"]
        try:
            message = send_test(campaign, to, request.user)
        except ValidationError as error:
            self.message_user(request, f"Test not sent: {' '.join(error.messages)}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        log_url = reverse("admin:campaigns_outboundmessage_change", args=[message.pk])
        self.message_user(
            request,
            format_html('Test message to {} is on its way (<a href="{}">follow it in the log</a>).', to, log_url),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(change_url)

    @method_require_post
    def pick_winner_view(self, request, pk: int) -> HttpResponse:
        """A person picks an A/B test's winner; it goes to the rest of the audience."""
        campaign = self._campaign(request, pk, to="pick a campaign's winner")
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        chosen = request.POST.get("variant", "")
        if not chosen.isdigit():
            self.message_user(request, f"variant: {chosen!r} is not a variant's number.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        refusal = variants.pick_winner(campaign, int(chosen), request.user.get_username())
        if refusal:
            self.message_user(request, f"No winner picked: {refusal}", messages.ERROR)
        else:
            self.message_user(
                request, f"Variant {letter(int(chosen))} is the winner: it goes to the rest now.", messages.SUCCESS
            )
        return HttpResponseRedirect(change_url)

    # --- changelist actions (the same verbs, for many campaigns at once) -------------------------

    @admin.action(description="Launch (at its scheduled time, or now if none)…", permissions=["change"])
    def launch(self, request, queryset) -> TemplateResponse | None:
        drafts = queryset.filter(status=Status.DRAFT)
        if not confirm.confirmed(request):
            return confirm.ask(
                self,
                request,
                drafts,
                question="Launch these campaigns?",
                consequence="Each goes at its scheduled time, or now if it has none, to everyone on its lists.",
                button="Yes, launch them",
            )
        for campaign in queryset:
            report = prelaunch.report(campaign)
            if not report.ready:
                problems = " ".join(report.problems)
                self.message_user(request, f"{campaign.name}: not launched. {problems}", messages.ERROR)
            elif campaign.launch(at=campaign.scheduled_at):
                self.message_user(request, f"{campaign.name}: launched, starting {shown(campaign.scheduled_at)}.")
            else:
                self.message_user(request, f"{campaign.name}: only a draft can be launched.", messages.WARNING)
        return None

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset) -> None:
        paused = sum(c.pause(f"Paused by {request.user.get_username()}") for c in queryset)
        self.message_user(request, f"Paused {paused} running campaign(s).", messages.SUCCESS)

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request, queryset) -> None:
        resumed = sum(campaign.resume() for campaign in queryset)
        self.message_user(request, f"Resumed {resumed} paused campaign(s).", messages.SUCCESS)

    @admin.action(description="Cancel (messages not sent yet are cancelled)…", permissions=["change"])
    def cancel(self, request, queryset) -> TemplateResponse | None:
        if not confirm.confirmed(request):
            return confirm.ask(
                self,
                request,
                queryset.exclude(status__in=[Status.COMPLETED, Status.CANCELLED]),
                question="Cancel these campaigns?",
                consequence="Messages not sent yet will never go. This cannot be undone.",
                button="Yes, cancel them",
            )
        cancelled = sum(c.cancel(f"Cancelled by {request.user.get_username()}") for c in queryset)
        self.message_user(request, f"Cancelled {cancelled} campaign(s).", messages.SUCCESS)
        return None

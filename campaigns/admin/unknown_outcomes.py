"""The page where an administrator settles messages whose outcome is unknown.

/admin/campaigns/outboundmessage/unknown/ (wired in by OutboundMessageAdmin.get_urls; the
dashboard's "needs attention" item links here): the messages in doubt grouped by campaign and
channel, then one group's messages, oldest first, to check with the provider and mark sent,
mark failed with a reason, or resend after confirming that duplicates are possible. For
superusers and staff given "Can resolve messages with an unknown outcome"; not the Marketing group.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode

from campaigns.models import OutboundMessage
from campaigns.models.staff import zone_label
from campaigns.pipeline import unknown_outcomes as doubt
from messaging_site.permissions import denied

PERMISSION = "campaigns.resolve_outcome"
SHOWN = 100  # messages of a group listed on the page (a decision may take the whole group)
CHECKED_AT_MOST = 20  # provider look-ups per click: each is a request to the provider

ACTIONS = [
    ("check", "Check with the provider"),
    (doubt.SENT, "Mark sent"),
    (doubt.FAILED, "Mark failed"),
    (doubt.RESEND, "Resend"),
]


def unknown_outcome_urls(model_admin: admin.ModelAdmin) -> list:
    view = model_admin.admin_site.admin_view(lambda request: unknown_outcomes_page(request, model_admin))
    return [path("unknown/", view, name="campaigns_outboundmessage_unknown")]


def may_resolve(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(PERMISSION)


class DecisionForm(forms.Form):
    """One decision on ticked messages of a group (or on the whole group)."""

    action = forms.ChoiceField(choices=ACTIONS)
    chosen = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Messages")
    whole_group = forms.BooleanField(
        required=False, label="Apply to every message of this group, not only those ticked"
    )
    reason = forms.CharField(required=False, max_length=300, label="Reason (to mark failed)")
    confirm_duplicates = forms.BooleanField(
        required=False, label=f"{doubt.DUPLICATE_WARNING} I accept that, and want to resend."
    )

    def __init__(self, *args, shown_ids: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["chosen"].choices = [(pk, pk) for pk in shown_ids]

    def clean(self) -> dict:
        data = super().clean()
        action = data.get("action")
        if action == "check" and not data.get("chosen"):
            raise forms.ValidationError("chosen: tick the messages to check with the provider.")
        if action and action != "check" and not (data.get("chosen") or data.get("whole_group")):
            raise forms.ValidationError("chosen: tick the messages to resolve, or apply to the whole group.")
        if action == doubt.FAILED and not (data.get("reason") or "").strip():
            self.add_error("reason", "reason: say why these messages are marked failed (it is kept on each one).")
        if action == doubt.RESEND and not data.get("confirm_duplicates"):
            self.add_error("confirm_duplicates", f"confirm_duplicates: {doubt.DUPLICATE_WARNING} Tick to resend.")
        return data


def chosen_group(request: HttpRequest) -> tuple[int | str | None, int | None, str]:
    """The group named by ?campaign=<id|none>&channel=<id>; ("any", None, error) when none or bad."""
    campaign, channel = request.GET.get("campaign"), request.GET.get("channel")
    if campaign is None and channel is None:
        return "any", None, ""
    try:
        channel_id = int(channel or "")
        campaign_id = None if campaign == "none" else int(campaign or "")
    except ValueError:
        return "any", None, f"campaign={campaign!r}, channel={channel!r}: not a group of this page."
    return campaign_id, channel_id, ""


def unknown_outcomes_page(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    if not may_resolve(request.user):
        raise denied(PERMISSION, "settle messages with an unknown outcome")
    campaign, channel, group_error = chosen_group(request)
    in_group = channel is not None
    group_messages = doubt.in_doubt(campaign, channel) if in_group else OutboundMessage.objects.none()
    shown = list(group_messages.select_related("channel", "contact", "campaign").order_by("updated_at", "id")[:SHOWN])
    form = DecisionForm(request.POST or None, shown_ids=[m.pk for m in shown])
    looked_up = {}
    if request.method == "POST" and in_group and form.is_valid():
        data = form.cleaned_data
        if data["action"] == "check":
            looked_up = check(shown, set(data["chosen"]))
        else:
            return decide(request, data, group_messages, shown)
    for message in shown:
        message.look_up = looked_up.get(message.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Messages with an unknown outcome",
        "zone_label": zone_label(),
        "groups": doubt.groups(doubt.in_doubt()),
        "group_error": group_error,
        "in_group": in_group,
        "group": next((g for g in doubt.groups(group_messages)), None) if in_group else None,
        "shown": shown,
        "shown_limit": SHOWN,
        "checked_limit": CHECKED_AT_MOST,
        "form": form,
        "ticked": {int(pk) for pk in request.POST.getlist("chosen") if pk.isdigit()},
        "stale_seconds": settings.SENDING_STALE_SECONDS,
        "page_url": reverse("admin:campaigns_outboundmessage_unknown"),
    }
    return TemplateResponse(request, "admin/campaigns/outboundmessage/unknown.html", context)


def check(shown: list[OutboundMessage], chosen: set[int]) -> dict:
    """What the provider says about the ticked messages (at most CHECKED_AT_MOST of them)."""
    ticked = [message for message in shown if message.pk in chosen][:CHECKED_AT_MOST]
    return {message.pk: doubt.check_with_provider(message) for message in ticked}


def decide(request: HttpRequest, data: dict, group_messages, shown: list[OutboundMessage]) -> HttpResponse:
    ids = list(group_messages.values_list("id", flat=True)) if data["whole_group"] else data["chosen"]
    by = request.user.get_username()
    resolved = doubt.decide(
        data["action"], ids, by, reason=data.get("reason") or "", duplicates_accepted=data["confirm_duplicates"]
    )
    done = {
        doubt.SENT: "marked sent",
        doubt.FAILED: "marked failed",
        doubt.RESEND: "queued to send again",
    }[data["action"]]
    messages.success(request, f"{resolved.changed} message(s) {done}; recorded as decided by {by}.")
    if resolved.skipped:
        messages.warning(
            request,
            f"{resolved.skipped} message(s) were no longer in doubt (someone else, the worker or a receipt "
            "settled them first, or their campaign was cancelled) and were left as they were.",
        )
    return HttpResponseRedirect(f"{request.path}?{urlencode(request.GET)}")

"""Event webhooks in the admin: endpoints (administrators register them; the secret is shown once),
each endpoint's delivery log with "send again", its secret's rotation, and the status callbacks'
log and signing secret.

The pages are for whoever may view webhook endpoints (administrators: the Marketing group is not
given them); sending again, rotating a secret and a new signing secret need "change" too.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from campaigns.events.delivery import send_again
from campaigns.events.destinations import url_problem
from campaigns.events.jobs import forget_outbox
from campaigns.events.signing import new_secret, replace_status_callback_secret, rotate_endpoint_secret
from campaigns.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from campaigns.models.staff import zone_label
from campaigns.models.webhook import EventType
from contacts.admin.deletion import BoundedDeletion
from messaging_site.permissions import denied, model_perm

LOG_PAGE = 50


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label="Events to send", choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "events_per_request", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = url_problem(url)
        if problem:
            raise forms.ValidationError(f"URL: {url[:200]!r} is not accepted: {problem}.")
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(BoundedDeletion, admin.ModelAdmin):
    """Customers' systems that get events, signed with a secret shown once when the endpoint is made."""

    form = WebhookEndpointForm
    list_display = ["__str__", "url", "events", "state"]
    readonly_fields = ["state", "signing_secret", "created_at"]
    change_form_template = "admin/campaigns/webhookendpoint/change_form.html"
    change_list_template = "admin/campaigns/webhookendpoint/change_list.html"

    def get_fieldsets(self, request, obj=None):
        fields = ["url", "description", "event_types", "events_per_request", "enabled"]
        return [(None, {"fields": fields if obj is None else [*fields, "state", "signing_secret", "created_at"]})]

    @admin.display(description="events")
    def events(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or "none"

    @admin.display(description="state")
    def state(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.disabled_at:
            return format_html(
                "<strong>Switched off</strong> {}: {}", when(endpoint.disabled_at), endpoint.disabled_reason
            )
        if not endpoint.enabled:
            return "Off"
        if endpoint.failing_since:
            return format_html("<strong>Failing</strong> since {}; tried again after {}", when(endpoint.failing_since),
                               when(endpoint.resting_until) if endpoint.resting_until else "now")  # fmt: skip
        return "On"

    @admin.display(description="signing secret")
    def signing_secret(self, endpoint: WebhookEndpoint) -> str:
        """When it was made and whether the old one still signs; never the secret itself."""
        made = f"Made {when(endpoint.secret_made_at or endpoint.created_at)}; shown only then."
        if len(endpoint.signing_secrets()) > 1:
            return format_html(
                "{} <strong>Rotating:</strong> the previous secret signs too until {} (two signatures).",
                made, when(endpoint.previous_secret_until),
            )  # fmt: skip
        return made

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        if not change:
            secret = new_secret()
            obj.secret, obj.secret_made_at = secret, timezone.now()
            obj.save()
            # The only time the secret is shown: the receiver verifies signatures with it.
            self.message_user(
                request,
                f"The endpoint's signing secret is {secret} (copy it now: it will not be shown again).",
                messages.WARNING,
            )
            return
        if obj.enabled and "enabled" in form.changed_data:
            # Switched on again by a person: it starts afresh, and its waiting events go now.
            obj.disabled_at, obj.disabled_reason, obj.failing_since, obj.resting_until = None, "", None, None
        obj.save()

    def delete_model(self, request, obj: WebhookEndpoint) -> None:
        with transaction.atomic():
            forget_outbox([obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            forget_outbox(list(queryset.values_list("pk", flat=True)))
            super().delete_queryset(request, queryset)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/log/", view(self.delivery_log), name="campaigns_webhookendpoint_log"),
            path("<int:pk>/rotate-secret/", view(self.rotate_secret), name="campaigns_webhookendpoint_rotate_secret"),
            path("status-callbacks/", view(self.status_callbacks), name="campaigns_webhookendpoint_status_callbacks"),
            *super().get_urls(),
        ]

    def delivery_log(self, request: HttpRequest, pk: int) -> HttpResponse:
        endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
        return self._log(request, endpoint, WebhookAttempt.objects.filter(endpoint=endpoint), endpoint.url)

    def rotate_secret(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A new secret, shown once; the old one signs too for WEBHOOK_SECRET_ROTATION_HOURS."""
        self._require(request, "change", "rotate a webhook endpoint's signing secret")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = rotate_endpoint_secret(get_object_or_404(WebhookEndpoint, pk=pk).pk)
        self.log_change(request, endpoint, "Rotated the signing secret.")  # the history names no secret
        self.message_user(
            request,
            f"The endpoint's new signing secret is {endpoint.secret} (copy it now: it will not be shown again). "
            f"Until {when(endpoint.previous_secret_until)} every event carries two signatures, by the new "
            "secret and the previous one, so the receiver accepts with either while it moves to the new one; "
            "after that only the new one signs.",
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:campaigns_webhookendpoint_change", args=[endpoint.pk]))

    def status_callbacks(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.POST.get("new_secret"):
            self._require(request, "change", "make a new status callback signing secret")
            secret = replace_status_callback_secret()
            self.message_user(
                request,
                f"The new status callback signing secret is {secret} (copy it now: it will not be shown again; "
                "the old one signs nothing from now on).",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.path)
        attempts = WebhookAttempt.objects.filter(endpoint__isnull=True)
        return self._log(request, None, attempts, "status callback URLs")

    def _require(self, request: HttpRequest, action: str, to: str) -> None:
        perm = model_perm(WebhookEndpoint, action)
        if not request.user.has_perm(perm):
            raise denied(perm, to)

    def _log(self, request: HttpRequest, endpoint, attempts, title: str) -> HttpResponse:
        self._require(request, "view", "read the webhook delivery log")
        if request.method == "POST":
            self._require(request, "change", "send webhook events again")
            event_ids = [int(v) for v in request.POST.getlist("event") if v.isdigit()]
            own = WebhookEvent.objects.filter(pk__in=event_ids, endpoint=endpoint)
            sent = send_again(list(own.values_list("pk", flat=True)))
            self.message_user(request, f"{sent} event(s) will be sent again in a moment.", messages.SUCCESS)
            return HttpResponseRedirect(request.get_full_path())
        before = request.GET.get("before", "")
        if before.isdigit():
            attempts = attempts.filter(pk__lt=int(before))
        page = list(attempts.select_related("event").order_by("-id")[: LOG_PAGE + 1])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Delivery log: {title}",
            "endpoint": endpoint,
            "attempts": page[:LOG_PAGE],
            "older": page[LOG_PAGE - 1].pk if len(page) > LOG_PAGE else None,
            "may_send_again": request.user.has_perm(model_perm(WebhookEndpoint, "change")),
            "zone_label": zone_label(),
            "pending": pending_count(endpoint),
        }
        return TemplateResponse(request, "admin/campaigns/webhookendpoint/log.html", context)


PENDING_SHOWN_UP_TO = 10_000


def pending_count(endpoint) -> str:
    """Events waiting for this destination, counted up to a bound (the partial index holds only these)."""
    waiting = WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, endpoint=endpoint)
    found = waiting.order_by()[: PENDING_SHOWN_UP_TO + 1].count()
    return f"{PENDING_SHOWN_UP_TO:,}+" if found > PENDING_SHOWN_UP_TO else f"{found:,}"


def when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M} {zone_label()}"


def log_url(endpoint: WebhookEndpoint) -> str:
    return reverse("admin:campaigns_webhookendpoint_log", args=[endpoint.pk])

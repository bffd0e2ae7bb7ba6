from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from campaigns.admin.message_log import MessageLogList
from campaigns.admin.unknown_outcomes import unknown_outcome_urls
from campaigns.content.personalisation import message_text
from campaigns.forms import DONT_SEND, SEND_NOW, SendMessageForm, local_text
from campaigns.models import OutboundMessage
from campaigns.whatsapp.failures import failure_words
from messaging_site import confirm

Status = OutboundMessage.Status
EDITABLE = [Status.SCHEDULED, Status.QUEUED]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(MessageLogList):
    """The message log, and the place staff send or schedule a single message (editable until it goes).

    Its list's counts, search and sorts are built for millions of rows: campaigns/admin/message_log.py.
    """

    form = SendMessageForm
    list_display = [
        "id",
        "to",
        "text",
        "state",
        "channel",
        "send_at",
        "sent_at",
        "provider_message_id",
        "sender_label",
    ]
    list_filter = ["status", "channel", ("campaign", admin.EmptyFieldListFilter)]
    sortable_by = ["id", "to"]  # each an index in both directions; filters serve the rest
    search_fields = ["to", "provider_message_id"]  # shows the box; MessageLogList does the searching
    list_select_related = ["channel", "contact", "campaign__template"]
    raw_id_fields = ["campaign", "contact"]
    actions = ["cancel_messages"]

    class Media:
        css = {"all": ["css/messages.css"]}

    editable_fields = ["channel", "to", "body", "media_url", "when", "send_at"]
    sent_fields = [
        "recipient_text",
        "campaign_link",
        "contact",
        "state",
        "attempts",
        "provider_message_id",
        "error_code",
        "error_message",
        "outside_window",
        "template",
        "template_sent",
        "variables",
        "created_by",
        "sender_label",
        "created_at",
        "sent_at",
        "delivered_at",
        "updated_at",
        "resolution",
        "resolved_by",
        "resolved_at",
    ]

    def get_urls(self):
        return [*unknown_outcome_urls(self), *super().get_urls()]

    @admin.display(description="Status", ordering="status")
    def state(self, message: OutboundMessage) -> str:
        """A campaign's scheduled message is one waiting for its recipient's sending hours: say so."""
        if message.campaign_id is not None and message.status == Status.SCHEDULED:
            return "Waiting for sending hours"
        return message.get_status_display()

    @admin.display(description="Text")
    def text(self, message: OutboundMessage) -> str:
        return Truncator(message_text(message)).chars(60) or "-"

    @admin.display(description="Text for this recipient")
    def recipient_text(self, message: OutboundMessage) -> str:
        """What the recipient gets (or got): placeholders filled from the contact and the message's values."""
        text = message_text(message)
        if not text:
            return "-"
        waiting = message.status in (OutboundMessage.Status.SCHEDULED, OutboundMessage.Status.QUEUED)
        if waiting or text == message.body:
            return text
        return f"{text}\n\n(Filled in with the contact's current values; they may have changed since it was sent.)"

    @admin.display(description="Why it failed")
    def outside_window(self, message: OutboundMessage) -> str:
        return failure_words(message.channel.provider, message.error_code, message.error_message) or "-"

    @admin.display(description="WhatsApp template sent")
    def template_sent(self, message: OutboundMessage) -> str:
        """Exactly what went: the template, each value sent, and the message as the phone showed it."""
        sent = message.sent_template
        if not sent:
            return "-"
        name = f"{sent.get('name')} ({sent.get('language')})" if sent.get("language") else sent.get("name")
        values = "\n".join(f"{key} = {value}" for key, value in _flat_values(sent.get("variables")))
        return format_html(
            '<div class="template-sent"><p><strong>{}</strong> {}</p><p>Values sent:</p><pre class="values">{}</pre>'
            '<p>As the phone showed it:</p><pre class="phone-preview">{}</pre></div>',
            name or "A template not synced here",
            sent.get("id", ""),
            values or "(none)",
            sent.get("preview") or "(not known: the template was not synced when it went)",
        )

    @admin.display(description="Campaign")
    def campaign_link(self, message: OutboundMessage) -> str:
        """A campaign's message is changed only through its campaign: say so, and link there."""
        campaign = message.campaign
        if campaign is None:
            return "-"
        page = "bulkjob" if campaign.kind == campaign.Kind.BULK_API else "campaign"
        url = reverse(f"admin:campaigns_{page}_change", args=[campaign.pk])
        return format_html(
            '<a href="{}">{}</a> ({}). This message is part of it and cannot be changed here: '
            "pause, resume or cancel the campaign on its page.",
            url,
            campaign.name,
            campaign.get_status_display().lower(),
        )

    def get_readonly_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        if obj is None:
            return []
        if editable_here(obj):
            return list(self.sent_fields)
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        fields = self._fields(obj)
        if obj is None or obj.resolved_at is None:  # only a message a person settled has a decision to show
            fields = [f for f in fields if f not in ("resolution", "resolved_by", "resolved_at")]
        if obj is not None and not failure_words(obj.channel.provider, obj.error_code):
            fields = [f for f in fields if f != "outside_window"]
        if obj is not None and not obj.sent_template:
            fields = [f for f in fields if f != "template_sent"]
        if obj is not None and obj.campaign_id:
            fields.remove("campaign_link")
            fields.insert(0, "campaign_link")  # first: why nothing here can be changed
            fields.remove("body")  # "Text for this recipient" shows it (the text it went with, once sent)
        return fields

    def _fields(self, obj: OutboundMessage | None) -> list[str]:
        if obj is None:
            return list(self.editable_fields)
        if editable_here(obj):
            return [*self.editable_fields, *self.sent_fields]
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not editable_here(obj):
            kwargs["form"] = admin.ModelAdmin.form
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request, obj: OutboundMessage | None = None) -> bool:
        # A campaign's messages are read-only here (the page shows them without a Save button);
        # the campaign's own page pauses or cancels them.
        if obj is not None and obj.campaign_id is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj: OutboundMessage | None = None) -> bool:
        # Message history is never lost through the admin, not even by a superuser: cancel instead.
        return False

    def save_model(self, request, obj: OutboundMessage, form, change: bool) -> None:
        data = form.cleaned_data
        media = [data["media_url"]] if data.get("media_url") else []
        if not change:
            sent = OutboundMessage.send_one(
                channel=data["channel"],
                to=data["to"],
                text=data.get("body", ""),
                media_urls=media,
                send_at=data.get("send_at"),
                user=request.user,
            )
            obj.pk, obj.status, obj.send_at = sent.pk, sent.status, sent.send_at
            request._message_outcome = (outcome_text(obj), messages.SUCCESS)
            return
        request._message_outcome = self.change_message(obj, form, media)

    def change_message(self, obj: OutboundMessage, form, media: list[str]) -> tuple[str, int]:
        """Apply an edit to a message that has not gone yet; say what became of it."""
        data = form.cleaned_data
        if data.get("when") == DONT_SEND:
            if obj.cancel():
                return f"Message #{obj.pk} to {obj.to} is cancelled: it will not be sent.", messages.SUCCESS
            return too_late(obj)
        # Only while no worker has it: an edit must never change a message already on its way.
        still_waiting = OutboundMessage.objects.filter(pk=obj.pk, status__in=EDITABLE, claim_token__isnull=True)
        if not still_waiting.update(channel=obj.channel, to=obj.to, body=obj.body, media_urls=media):
            return too_late(obj)
        obj.media_urls = media
        was = OutboundMessage.objects.values_list("status", "send_at").get(pk=obj.pk)
        wanted_at = None if data.get("when") == SEND_NOW else data.get("send_at")
        if (Status.QUEUED if wanted_at is None else Status.SCHEDULED, wanted_at) != tuple(was):
            if not obj.reschedule(wanted_at):
                return too_late(obj)
        else:
            obj.status, obj.send_at = was
        return outcome_text(obj), messages.SUCCESS

    def response_add(self, request: HttpRequest, obj: OutboundMessage, post_url_continue=None) -> HttpResponse:
        return self.say_outcome(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: OutboundMessage) -> HttpResponse:
        return self.say_outcome(request, obj) or super().response_change(request, obj)

    def say_outcome(self, request: HttpRequest, obj: OutboundMessage) -> HttpResponse | None:
        """Our own confirmation (scheduled with its time and zone, queued, cancelled) instead of the stock one."""
        outcome = getattr(request, "_message_outcome", None)
        if outcome is None:
            return None
        self.message_user(request, *outcome)
        if "_continue" in request.POST:
            return HttpResponseRedirect(reverse("admin:campaigns_outboundmessage_change", args=[obj.pk]))
        if "_addanother" in request.POST:
            return HttpResponseRedirect(reverse("admin:campaigns_outboundmessage_add"))
        return self.response_post_save_change(request, obj)

    @admin.action(description="Cancel selected messages (those not sent yet)…", permissions=["change"])
    def cancel_messages(self, request, queryset) -> TemplateResponse | None:
        # Only those still waiting (a partial index each): "select all" may be millions of messages.
        waiting = queryset.filter(status__in=EDITABLE, claim_token__isnull=True).select_related(None)
        if not confirm.confirmed(request):
            return confirm.ask(
                self,
                request,
                waiting.only("pk", "to", "status"),
                question="Cancel these messages?",
                consequence="Those not sent yet will never go. This cannot be undone.",
                button="Yes, cancel them",
            )
        waiting = waiting.only("pk")
        cancelled = sum(message.cancel() for message in waiting)
        self.message_user(request, f"Cancelled {cancelled} message(s).", messages.SUCCESS)
        return None


def editable_here(message: OutboundMessage) -> bool:
    """A single message that has not gone yet; a campaign's messages change only through their campaign."""
    return message.is_editable and message.campaign_id is None


def outcome_text(message: OutboundMessage) -> str:
    if message.status == Status.SCHEDULED and message.send_at is not None:
        return (
            f"Message #{message.pk} to {message.to} is scheduled for {local_text(message.send_at)}. "
            "You can change or cancel it until then."
        )
    return f"Message #{message.pk} to {message.to} is on its way (queued to send now)."


def too_late(message: OutboundMessage) -> tuple[str, int]:
    return (
        f"Message #{message.pk} to {message.to} was already on its way: your changes were not applied.",
        messages.WARNING,
    )


def _flat_values(variables: object, part: str = "") -> list[tuple[str, object]]:
    """Template values as (name, value) rows: {{1}}, or Gupshup's nested parts as "Body {{1}}"."""
    if not isinstance(variables, dict):
        return []
    rows: list[tuple[str, object]] = []
    for key, value in variables.items():
        if isinstance(value, dict):
            rows.extend(_flat_values(value, f"{key} "))
        else:
            rows.append((f"{part}{{{{{key}}}}}" if str(key).isdigit() else f"{part}{key}", value))
    return rows

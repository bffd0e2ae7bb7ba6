from __future__ import annotations

from django.contrib import admin, messages
from django.utils.text import Truncator

from campaigns.forms import SendMessageForm
from campaigns.models import OutboundMessage
from campaigns.personalisation import message_text


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """The message log, and the place staff send or schedule a single message."""

    form = SendMessageForm
    list_display = [
        "id",
        "to",
        "channel",
        "status",
        "text",
        "send_at",
        "sent_at",
        "provider_message_id",
        "sender_label",
    ]
    list_filter = ["status", "channel", ("campaign", admin.EmptyFieldListFilter)]
    search_fields = ["to", "provider_message_id"]
    list_select_related = ["channel", "contact", "campaign__template"]
    raw_id_fields = ["campaign", "contact"]
    actions = ["cancel_messages"]
    show_full_result_count = False  # millions of rows: no COUNT(*) per page
    sent_fields = [
        "recipient_text",
        "campaign",
        "contact",
        "status",
        "attempts",
        "provider_message_id",
        "error_code",
        "error_message",
        "template",
        "variables",
        "created_by",
        "sender_label",
        "created_at",
        "sent_at",
        "delivered_at",
        "updated_at",
    ]

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

    def get_readonly_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        if obj is None:
            return []
        if obj.is_editable:
            return [f for f in self.sent_fields]
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_fields(self, request, obj: OutboundMessage | None = None) -> list[str]:
        fields = self._fields(obj)
        if obj is not None and not obj.is_editable and obj.campaign_id and not obj.body:
            fields.remove("body")  # a campaign's message: "Text for this recipient" shows it instead
        return fields

    def _fields(self, obj: OutboundMessage | None) -> list[str]:
        if obj is None:
            return ["channel", "to", "body", "media_url", "send_at"]
        if obj.is_editable:
            return ["channel", "to", "body", "media_url", "send_at", *self.sent_fields]
        return ["channel", "to", "body", "media_urls", "send_at", *self.sent_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not obj.is_editable:
            kwargs["form"] = admin.ModelAdmin.form
        return super().get_form(request, obj, change=change, **kwargs)

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
            obj.pk = sent.pk
            return
        obj.media_urls = media
        OutboundMessage.objects.filter(pk=obj.pk).update(
            channel=obj.channel, to=obj.to, body=obj.body, media_urls=media
        )
        if "send_at" in form.changed_data and not obj.reschedule(data.get("send_at")):
            self.message_user(
                request, "Too late to change the time: the message is already on its way.", messages.WARNING
            )

    @admin.action(description="Cancel selected messages (those not sent yet)")
    def cancel_messages(self, request, queryset) -> None:
        cancelled = sum(message.cancel() for message in queryset.select_related(None).only("pk"))
        self.message_user(request, f"Cancelled {cancelled} message(s).", messages.SUCCESS)

"""The channel screen's actions that need messages, added by campaigns to the providers' ChannelAdmin.

Providers know nothing of messages or campaigns (dependencies run campaigns -> providers), so the
"send a test message" action lives here; resuming campaigns with their channel is the
channels_resumed receiver in campaigns.pipeline.receipts.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from campaigns.admin.whatsapp_templates import channel_sync_panel
from campaigns.models import ChannelKeywords, OutboundMessage
from campaigns.whatsapp.sync import request_sync
from contacts.phones import normalise_phone
from providers.admin import ChannelAdmin
from providers.models import Channel


class TestMessageForm(forms.Form):
    to = forms.CharField(label="To", max_length=32, help_text="A phone number, e.g. +447911123456.")
    text = forms.CharField(
        label="Text", max_length=1600, widget=forms.Textarea(attrs={"rows": 3}), initial="Test message"
    )

    def clean_to(self) -> str:
        return normalise_phone(self.cleaned_data["to"], field="To")


class ChannelWithMessagesAdmin(ChannelAdmin):
    actions = [*ChannelAdmin.actions, "send_test_message", "sync_whatsapp_templates"]

    @admin.action(description="Sync WhatsApp templates from the provider", permissions=["change"])
    def sync_whatsapp_templates(self, request, queryset):
        chosen = [channel for channel in queryset if channel.provider_class().lists_templates and channel.is_active]
        for channel in chosen:
            request_sync(channel)
        if chosen:
            names = ", ".join(channel.name for channel in chosen)
            self.message_user(request, f"Syncing the templates of {names}: see WhatsApp templates.", messages.SUCCESS)
        else:
            self.message_user(request, "None of these is an active WhatsApp channel: nothing to sync.", messages.ERROR)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), **self.keywords_context(request, object_id)}
        channel = self.get_object(request, object_id)
        if channel is not None and channel.provider_class().lists_templates:
            extra_context["template_sync_panel"] = channel_sync_panel(channel)
        return super().change_view(request, object_id, form_url, extra_context)

    def keywords_context(self, request, object_id) -> dict:
        """The channel's keywords in a line, and where to set them (for those who may see them)."""
        if not request.user.has_perm("campaigns.view_channelkeywords"):
            return {}
        channel = self.get_object(request, object_id)
        if channel is None:
            return {}
        keywords = ChannelKeywords.for_channel(channel)
        if keywords.pk:
            url = reverse("admin:campaigns_channelkeywords_change", args=[keywords.pk])
        elif request.user.has_perm("campaigns.add_channelkeywords"):
            url = reverse("admin:campaigns_channelkeywords_add") + f"?channel={channel.pk}"
        else:
            url = ""
        may_change = request.user.has_perm("campaigns.change_channelkeywords")
        return {"channel_keywords": keywords, "channel_keywords_url": url, "channel_keywords_may_change": may_change}

    @admin.action(description="Send a test message", permissions=["change"])
    def send_test_message(self, request, queryset):
        """Ask for a number and a text on an intermediate page, then queue one message on the channel."""
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one channel to send a test message on.", messages.ERROR)
            return None
        channel = queryset.get()
        form = TestMessageForm(request.POST if "send" in request.POST else None)
        if form.is_bound and form.is_valid() and self._send_test(request, channel, form):
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Send a test message on {channel.name}",
            "opts": self.model._meta,
            "channel": channel,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/providers/channel/send_test_message.html", context)

    def _send_test(self, request, channel: Channel, form: TestMessageForm) -> bool:
        try:
            message = OutboundMessage.send_one(
                channel=channel, to=form.cleaned_data["to"], text=form.cleaned_data["text"], user=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
            return False
        link = reverse("admin:campaigns_outboundmessage_change", args=[message.pk])
        self.message_user(
            request,
            format_html(
                'Test message <a href="{}">#{}</a> to {} is queued on {}.', link, message.pk, message.to, channel
            ),
            messages.SUCCESS,
        )
        if channel.paused_at:
            self.message_user(
                request, f"{channel.name} is paused ({channel.paused_reason}): it goes once resumed.", messages.WARNING
            )
        return True


admin.site.unregister(Channel)
admin.site.register(Channel, ChannelWithMessagesAdmin)

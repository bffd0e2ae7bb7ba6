"""Webhook routes for Twilio channels, mounted at /webhooks/twlo/ and /webhooks/twlowa/.

No URL names: this module is included under both prefixes, so a name would be ambiguous;
Channel.webhook_url builds the addresses.
"""

from django.urls import path

from providers.twilio import webhooks

urlpatterns = [
    path("<str:token>/status", webhooks.status_callback),
    path("<str:token>/inbound", webhooks.inbound_message),
]

"""Webhook routes for this provider, mounted at /webhooks/gswa/."""

from django.urls import path

from providers.gupshup import webhooks

app_name = "gupshup"
urlpatterns = [
    path("<str:token>/events", webhooks.events, name="events"),
]

"""Webhook routes for this provider, mounted at /webhooks/sendbulk/."""

from django.urls import path

from providers.sendbulk import webhooks

app_name = "sendbulk"
urlpatterns = [
    path("<str:token>/dlr", webhooks.delivery_report, name="dlr"),
]

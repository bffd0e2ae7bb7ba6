"""Webhook routes for this provider, mounted at /webhooks/twilio/."""

urlpatterns: list = []

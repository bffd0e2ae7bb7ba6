"""Webhook routes for this provider, mounted at /webhooks/gupshup/."""

urlpatterns: list = []

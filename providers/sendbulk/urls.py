"""Webhook routes for this provider, mounted at /webhooks/sendbulk/."""

urlpatterns: list = []

"""Provider webhooks: status callbacks and inbound messages."""

urlpatterns: list = []

"""Provider webhooks: status callbacks and inbound messages, one URL module per provider."""

from django.urls import include, path

urlpatterns = [
    path("webhooks/twlo/", include("providers.twilio.urls")),
    path("webhooks/twlowa/", include("providers.twilio.urls")),
    path("webhooks/gswa/", include("providers.gupshup.urls")),
    path("webhooks/sendbulk/", include("providers.sendbulk.urls")),
]

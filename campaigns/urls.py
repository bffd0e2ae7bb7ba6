"""The public JSON API lives in campaigns/api/."""

from django.urls import include, path

urlpatterns = [
    path("", include("campaigns.api.urls")),
]

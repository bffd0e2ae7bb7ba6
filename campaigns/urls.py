"""The public JSON API lives in campaigns/api/, tracked links' redirects in campaigns/links/."""

from django.urls import include, path

urlpatterns = [
    path("", include("campaigns.api.urls")),
    path("", include("campaigns.links.urls")),
]

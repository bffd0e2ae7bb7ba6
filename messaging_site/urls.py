from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from messaging_site.metrics import metrics_view

admin.site.site_header = "Messaging"
admin.site.site_title = "Messaging admin"
admin.site.index_title = "Contacts, campaigns and messages"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/metrics/", metrics_view, name="metrics"),  # staff, or a scraper's METRICS_TOKEN
    path("admin/", admin.site.urls),
    path("", include("providers.urls")),
    path("", include("campaigns.urls")),
]

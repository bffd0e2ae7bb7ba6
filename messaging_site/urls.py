from django.contrib import admin
from django.urls import URLPattern, include, path
from django.views.generic import RedirectView
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from messaging_site.metrics import metrics_view
from messaging_site.permissions import for_operators

admin.site.site_header = "Messaging"
admin.site.site_title = "Messaging admin"
admin.site.index_title = "Contacts, campaigns and messages"


def job_queue_urls() -> tuple[list[URLPattern], str]:
    """django-rq's pages and its JSON, each for administrators only (its own check is any staff)."""
    api = [URLPattern(p.pattern, for_operators(p.callback), p.default_args, p.name) for p in get_api_urlpatterns()]
    return [*api, *get_admin_urlpatterns(view_wrapper=for_operators)], "django_rq"


handler403 = "messaging_site.permissions.permission_denied_page"  # names the missing permission

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/rq/", include(job_queue_urls())),  # administrators only
    path("admin/metrics/", metrics_view, name="metrics"),  # administrators, or a scraper's METRICS_TOKEN
    path("admin/", admin.site.urls),
    path("", include("providers.urls")),
    path("", include("campaigns.urls")),
]

"""The public JSON API; a trailing slash is accepted too, since clients add one."""

from django.urls import re_path

from campaigns.api import views

urlpatterns = [
    re_path(r"^message/?$", views.message, name="api-message"),
    re_path(r"^message/(?P<message_id>[^/]+)/?$", views.message_detail, name="api-message-detail"),
    re_path(r"^messages/bulk/?$", views.bulk_jobs, name="api-bulk-jobs"),
    re_path(r"^messages/bulk/(?P<job_id>[^/]+)/?$", views.bulk_job_detail, name="api-bulk-job-detail"),
    re_path(r"^api/openapi\.json$", views.openapi, name="api-openapi"),
    re_path(r"^api/docs/?$", views.docs, name="api-docs"),
    # Anything else under the API's prefixes, with or without a slash after the prefix, is a JSON
    # 404: not the site's HTML one, and never APPEND_SLASH's redirect (which breaks a POST).
    re_path(r"^(?P<path>(?:message|messages|api)(?:/.*)?)$", views.not_found),
]

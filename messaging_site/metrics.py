"""GET /admin/metrics/: Prometheus's text format, for administrators signed in to the admin (superusers
or staff with "Can run the job queues and read the metrics") or for a scraper
that sends ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time, never shown).

One scrape has both collectors: ours (campaigns/reports/metrics.py: outcomes per channel, messages in
doubt, running campaigns, channels and their rate limiters) and django-rq's (queue lengths by job
state, workers, jobs failed).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from campaigns.reports.metrics import MessagingCollector
from messaging_site.permissions import OPERATE_QUEUES, denied, may_operate


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None


def token_matches(given: str) -> bool:
    expected = settings.METRICS_TOKEN
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = bearer_token(request)
    if token is not None:
        if not token_matches(token):
            # A scraper gets a plain refusal, never a login page; the token is not echoed.
            return JsonResponse({"error": "Authorization: the bearer token is not METRICS_TOKEN."}, status=401)
    elif not (request.user.is_active and request.user.is_staff):
        return redirect_to_login(request.get_full_path(), "admin:login")
    elif not may_operate(request.user):
        raise denied(OPERATE_QUEUES, "read the metrics")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MessagingCollector())
    registry.register(RQCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

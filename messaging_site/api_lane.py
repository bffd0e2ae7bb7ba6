"""The JSON API's lane: POST /message, GET /message/<id> and the bulk job endpoints, straight to their views.

An integrator's requests come hundreds a second, and each paid for what a person's page needs
(bench/receipts.py): the people-only middleware's pass-through, Django's URL resolver, and the
connection's health check, a ``SELECT 1`` round trip before the request's first query. Here:
- only the middleware that acts on machine requests runs (machine_requests.py), in
  settings.MIDDLEWARE's order: security headers and the HTTPS redirect, ALLOWED_HOSTS, CSRF (the
  API's views are csrf_exempt), X-Frame-Options, the fixed Content-Security-Policy, django-axes;
- routes() name each view by a pattern equal to its URLconf entry (tests/test_api_lane.py checks
  both ways); a path no route names goes to the URL resolver, as before;
- a kept PostgreSQL connection is checked without a round trip: a server that ended it (a restart,
  an administrator's pg_terminate_backend) has already written its goodbye to the socket, so a
  socket with something to read while idle is closed and a new connection opened. Unlike the
  callbacks' lane (fast_lane.py), a view is never run twice: a POST run again could send twice.

Everything else is Django's own request path: the same WSGIRequest and response, and the
request_started / request_finished signals (which recycle old connections). fast_lane.py does
the same for /webhooks/ and /l/, with the same handler (fast_lane.LaneMixin); this module
names the API's views and how their connection is checked.
"""

from __future__ import annotations

import re
import select
from collections.abc import Callable
from functools import wraps

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.http import HttpRequest, HttpResponse

from messaging_site.fast_lane import LaneMixin

# Only these paths take the lane: the API's own (machine_requests.MACHINE_PATH), not /api/docs.
API_PREFIX = re.compile(r"/messages?(?:/|$)")


def routes() -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
    """(pattern on the path, view): the views campaigns/api/urls.py names for these paths."""
    from campaigns.api import views

    return [
        (re.compile(r"/message/?"), views.message),
        (re.compile(r"/message/(?P<message_id>[^/]+)/?"), views.message_detail),
        (re.compile(r"/messages/bulk/?"), views.bulk_jobs),
        (re.compile(r"/messages/bulk/(?P<job_id>[^/]+)/?"), views.bulk_job_detail),
    ]


def check_kept_connection() -> None:
    """Stand in for Django's health check (a SELECT 1 round trip) on a kept PostgreSQL connection:
    one that the server ended has bytes waiting (its error message, or the end of the stream),
    and is closed here so the first query opens a new one."""
    if connection.vendor != "postgresql" or connection.connection is None or connection.health_check_done:
        return
    try:
        ended = connection.connection.closed or bool(select.select([connection.connection.fileno()], [], [], 0)[0])
    except (OSError, ValueError):
        ended = True
    if ended:
        connection.close()
    else:
        connection.health_check_done = True


def on_a_checked_connection(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def run(request: HttpRequest, **kwargs) -> HttpResponse:
        check_kept_connection()
        return view(request, **kwargs)

    return run


class ApiLaneMixin(LaneMixin):
    """The API's views, each on a kept connection checked without a round trip (never run twice)."""

    def lane_views(self) -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
        return [(pattern, on_a_checked_connection(view)) for pattern, view in routes()]


class ApiHandler(ApiLaneMixin, WSGIHandler):
    """Django's WSGI handler, in the API's lane."""


class ApiLane:
    """The API's paths to ApiHandler, everything else to the application it wraps."""

    def __init__(self, application: Callable) -> None:
        self.application = application
        self.lane = ApiHandler()

    def __call__(self, environ: dict, start_response):
        if API_PREFIX.match(environ.get("PATH_INFO", "")):
            return self.lane(environ, start_response)
        return self.application(environ, start_response)

"""The way back's fast lane: providers' callbacks and tracked links' redirects, straight to their views.

Status callbacks come 2 to 4 per message sent and clicks in bursts right after a send, so these
requests skip what the rest of the site needs (bench/receipts.py, bench/clicks.py):
- the middleware that only people's pages use (messaging_site/machine_requests.py passes machine
  requests past it anyway; here it is not even called);
- Django's URL resolver: routes() name each view by a pattern equal to its URLconf entry
  (tests/test_fast_lane.py checks both ways);
- the connection's health check, a ``SELECT 1`` before each request's first query: a connection
  that died in between (a PostgreSQL restart) fails its first statement instead, and the view runs
  once more on a new connection, before anything was answered.

Everything else is Django's own request path: the same WSGIRequest and response, the
request_started / request_finished signals (which recycle old connections), and every middleware
that acts on machine requests (security headers and the HTTPS redirect, the ALLOWED_HOSTS check,
CSRF, X-Frame-Options, the fixed Content-Security-Policy), in settings.MIDDLEWARE's order. A path
under /webhooks/ or /l/ that no route names goes to the URL resolver, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from django.utils.module_loading import import_string

# Only these prefixes take the lane; both are machine paths (machine_requests.MACHINE_PATH).
LANE_PREFIX = re.compile(r"/(?:webhooks|l)/")


def routes() -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
    """(pattern on the path, view): the same views the URLconf names for these paths (<str:> is
    [^/]+, <path:> is .+). Imported here, once Django is set up."""
    from campaigns.links import follow_link
    from providers.gupshup import webhooks as gupshup
    from providers.sendbulk import webhooks as sendbulk
    from providers.twilio import webhooks as twilio

    return [
        (re.compile(r"/webhooks/(?:twlo|twlowa)/(?P<token>[^/]+)/status"), twilio.status_callback),
        (re.compile(r"/webhooks/(?:twlo|twlowa)/(?P<token>[^/]+)/inbound"), twilio.inbound_message),
        (re.compile(r"/webhooks/gswa/(?P<token>[^/]+)/events"), gupshup.events),
        (re.compile(r"/webhooks/sendbulk/(?P<token>[^/]+)/dlr"), sendbulk.delivery_report),
        (re.compile(r"/l/(?P<code>.+)", re.DOTALL), follow_link),
    ]


def acts_on_machine_requests(middleware: type) -> bool:
    return not getattr(middleware, "passes_machine_requests", False)


def on_a_live_connection(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run ``view`` without the per-request health check; once more on a new connection when a
    kept one turns out dead (nothing was answered yet, and its one write is taken at most twice:
    every event is applied once in effect, however often it is taken)."""

    @wraps(view)
    def run(request: HttpRequest, **kwargs) -> HttpResponse:
        kept = connection.connection is not None
        if kept:
            connection.health_check_done = True  # the retry below stands in for the SELECT 1
        try:
            return view(request, **kwargs)
        except (OperationalError, InterfaceError):
            if not kept or connection.in_atomic_block or connection.is_usable():
                raise
            connection.close()
            return view(request, **kwargs)

    return run


class FastLaneMixin:
    """A Django handler with only the middleware that acts on machine requests, and routes() first."""

    lane_routes: list | None = None

    def load_middleware(self, is_async: bool = False) -> None:
        """BaseHandler.load_middleware's chain (synchronous) of the middleware that acts on machine requests."""
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.MIDDLEWARE):
            middleware = import_string(path)
            if not acts_on_machine_requests(middleware):
                continue
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if self.lane_routes is None:
            self.lane_routes = [(pattern, on_a_live_connection(view)) for pattern, view in routes()]
        path = request.path_info
        for pattern, view in self.lane_routes:
            if found := pattern.fullmatch(path):
                match = ResolverMatch(view, (), found.groupdict(), route=pattern.pattern)
                request.resolver_match = match
                return match
        return super().resolve_request(request)


class MachineHandler(FastLaneMixin, WSGIHandler):
    """Django's WSGI handler, in the fast lane."""


class FastLane:
    """The site's WSGI application: /webhooks/ and /l/ to MachineHandler, everything else to Django's."""

    def __init__(self, django_application: WSGIHandler) -> None:
        self.django = django_application
        self.lane = MachineHandler()

    def __call__(self, environ: dict, start_response):
        if LANE_PREFIX.match(environ.get("PATH_INFO", "")):
            return self.lane(environ, start_response)
        return self.django(environ, start_response)

"""A Django test client whose /webhooks/ and /l/ requests take the fast lane (messaging_site/fast_lane.py).

The fast lane's suites (tests/test_fast_lane_*.py) run the webhook and link tests again with it as
their ``client``, so every answer those tests expect is checked on both paths. As in production, the
requests the plain lane takes (fast_lane.PlainLane.route) are answered by it, the others by the
lane's Django handler.
"""

from __future__ import annotations

from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.test.client import ClientHandler, conditional_content_removal

from messaging_site.fast_lane import LANE_PREFIX, FastLaneMixin, LaneRequest, PlainLane


class LaneClientHandler(FastLaneMixin, ClientHandler):
    """The test client's handler, in the fast lane: the plain lane first, as FastLane does."""

    plain: PlainLane | None = None

    def __call__(self, environ: dict):
        if self._middleware_chain is None:
            self.load_middleware()
        if self.plain is None:
            self.plain = PlainLane(self)
        request = LaneRequest(environ)
        if (found := self.plain.route(request)) is None:
            return super().__call__(environ)
        request._dont_enforce_csrf_checks = not self.enforce_csrf_checks
        response = self.plain.respond(request, *found)
        conditional_content_removal(request, response)
        response.wsgi_request = request
        request_finished.disconnect(close_old_connections)  # as ClientHandler: the test's connection stays
        response.close()
        request_finished.connect(close_old_connections)
        return response


class Lanes:
    """What FastLane does for gunicorn, for the test client: the lane's prefixes to the lane."""

    def __init__(self, django: ClientHandler, lane: ClientHandler):
        self.django, self.lane = django, lane

    def __call__(self, environ: dict):
        handler = self.lane if LANE_PREFIX.match(environ.get("PATH_INFO", "")) else self.django
        return handler(environ)


class LaneClient(Client):
    def __init__(self, enforce_csrf_checks: bool = False, **defaults):
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = Lanes(self.handler, LaneClientHandler(enforce_csrf_checks))

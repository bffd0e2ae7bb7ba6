"""A Django test client whose /webhooks/ and /l/ requests take the fast lane (messaging_site/fast_lane.py).

The fast lane's suites (tests/test_fast_lane_*.py) run the webhook and link tests again with it as
their ``client``, so every answer those tests expect is checked on both paths.
"""

from __future__ import annotations

from django.test import Client
from django.test.client import ClientHandler

from messaging_site.fast_lane import LANE_PREFIX, FastLaneMixin


class LaneClientHandler(FastLaneMixin, ClientHandler):
    """The test client's handler, in the fast lane."""


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

"""A Django test client whose API requests take the API's lane (messaging_site/api_lane.py).

tests/test_api_lane_*.py run the API's suites again with it, so every answer those tests expect is
checked on both paths.
"""

from __future__ import annotations

from django.test import Client
from django.test.client import ClientHandler

from messaging_site.api_lane import API_PREFIX, ApiLaneMixin


class ApiLaneClientHandler(ApiLaneMixin, ClientHandler):
    """The test client's handler, in the API's lane."""


class Lanes:
    """What ApiLane does for gunicorn, for the test client: the API's paths to the lane."""

    def __init__(self, django: ClientHandler, lane: ClientHandler):
        self.django, self.lane = django, lane

    def __call__(self, environ: dict):
        handler = self.lane if API_PREFIX.match(environ.get("PATH_INFO", "")) else self.django
        return handler(environ)


class ApiLaneClient(Client):
    def __init__(self, enforce_csrf_checks: bool = False, **defaults):
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = Lanes(self.handler, ApiLaneClientHandler(enforce_csrf_checks))

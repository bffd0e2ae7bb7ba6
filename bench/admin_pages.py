"""Timing admin pages through the real admin, shared by the admin benches (contacts_admin, admin_10m).

Each page is fetched with Django's test client as a logged-in user: the whole request (queries,
template, response), after one warm-up fetch, and the figure is the median.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

TARGET_PAGE_MS = 500


@contextmanager
def admin_pages_served() -> Iterator[None]:
    """Settings for fetching admin pages in-process: test host allowed, DEBUG off, plain static files.

    No collectstatic here: plain static storage (a manifest lookup costs the same).
    """
    from django.conf import settings
    from django.test.utils import override_settings

    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    storages = {**settings.STORAGES, "staticfiles": static}
    with override_settings(ALLOWED_HOSTS=["testserver"], DEBUG=False, STORAGES=storages):
        yield


def logged_in(user):
    """A test client with ``user`` logged in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def timed_get(client, url: str, repeats: int) -> float:
    """Median milliseconds of ``repeats`` fetches of ``url`` after a warm-up; each must answer 200."""
    warm = client.get(url)
    assert warm.status_code == 200, (url, warm.status_code)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def page_row(bench: str, name: str, milliseconds: float, note: str, vendor: str) -> dict:
    """One figure of the bench table for a page held to TARGET_PAGE_MS."""
    return {
        "name": f"{bench}: {name} ({vendor})",
        "figure": round(milliseconds, 1),
        "unit": "ms",
        "target": TARGET_PAGE_MS,
        "ratio": TARGET_PAGE_MS / max(milliseconds, 0.1),
        "note": note,
    }


def load_average() -> str:
    """The machine's load when the figures were taken (they are noisy on a shared machine)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"

"""Headless Chromium for the staff journeys, driven by Playwright (Debian's chromium, no download)."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connections

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page():
    """A fresh browser page; skipped only where no Chromium exists, and never on CI."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: install Debian's chromium package.")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        # Playwright runs an event loop on this thread, so the test's database calls got their own
        # connection (Django keeps them per context); close it or PostgreSQL's test database
        # stays busy at teardown.
        connections.close_all()
        browser.close()


def choose_in_autocomplete(page, field: str, text: str) -> None:
    """Pick ``text`` in one of the admin's autocomplete fields (select2, e.g. a campaign's lists):
    open it, type, and click the match the server found."""
    page.click(f".field-{field} .select2-selection")
    page.keyboard.type(text)
    page.locator(".select2-results__option:not(.loading-results)", has_text=text).first.click()

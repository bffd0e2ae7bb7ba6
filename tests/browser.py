"""Headless Chromium for the staff journeys, driven by Playwright (Debian's chromium, no download),
and the staff who sign in: a pytest plugin (tests/conftest.py loads it), so its fixtures serve
every test."""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections

from campaigns.models import StaffProfile

PASSWORD = "a-long-test-password"  # of every staff user the browser tests sign in as

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


@pytest.fixture
def administrator(db):
    """A superuser, as most staff journeys sign in."""
    return get_user_model().objects.create_superuser("maria", "maria@example.com", PASSWORD)


@pytest.fixture
def nairobi_staff(db):
    """A superuser who chose Nairobi's time zone: every date in the admin is shown in it."""
    user = get_user_model().objects.create_superuser("amina", "amina@example.com", PASSWORD)
    StaffProfile.objects.create(user=user, time_zone="Africa/Nairobi")
    return user


@pytest.fixture
def marketing_staff(db):
    """A staff member in the Marketing group (the group a migration creates)."""
    user = get_user_model().objects.create_user("mia", "mia@example.com", PASSWORD, is_staff=True)
    user.groups.add(marketing_group())
    return user


def marketing_group() -> Group:
    """The migration's group; a browser test's database may have been emptied by an earlier one."""
    migration = importlib.import_module("campaigns.migrations.0005_marketing_group")
    found = Group.objects.filter(name=migration.GROUP).first()
    if found is None:
        migration.create_marketing_group(apps, None)
        for later in LATER_MARKETING_GRANTS:
            importlib.import_module(later).grant(apps, None)
        found = Group.objects.get(name=migration.GROUP)
    return found


# Migrations that gave the group more after 0005 and may be run again on the live app registry
# (their grant() leaves it as it was): a group made again has what they gave too.
LATER_MARKETING_GRANTS = ["campaigns.migrations.0017_inbox_marketing", "campaigns.migrations.0019_channel_keywords"]


@pytest.fixture
def staff(client, administrator):
    """Django's test client, signed in as the administrator (a file may have its own ``staff``)."""
    client.force_login(administrator)
    return client


def log_in(page, live_server, username: str, next_url: str = "/admin/") -> None:
    """Sign in on the admin's login page, as a person does, and wait for the page it leads to."""
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def shot(page, name: str, full_page: bool = True) -> None:
    """SCREENSHOTS_DIR/<name>.png when SCREENSHOTS_DIR is set: we look at them by hand."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        path = Path(folder) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=full_page)


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page():
    """A fresh browser page; skipped only where no Chromium exists, and never on CI.

    The test fails if the page's Content-Security-Policy refused anything. Give wait_for_function a
    function ("() => ..."): a bare expression is eval'd in the page, which the policy refuses."""
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
        page.csp_violations = watch_content_security_policy(page)
        yield page
        # Every staff journey doubles as a check of the Content-Security-Policy: nothing it did was refused.
        assert page.csp_violations == [], "\n".join(page.csp_violations)
        # Playwright runs an event loop on this thread, so the test's database calls got their own
        # connection (Django keeps them per context); close it or PostgreSQL's test database
        # stays busy at teardown.
        connections.close_all()
        browser.close()


CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${event.violatedDirective} refused ${event.blockedURI || "inline"} on ${document.location.pathname}`
    + ` (${event.sourceFile || "the page"}:${event.lineNumber}: ${event.sample})`);
});
"""


def watch_content_security_policy(page) -> list[str]:
    """Collects what the browser refuses under the page's Content-Security-Policy, on every page it opens:
    the `securitypolicyviolation` events, and the console's "Refused to ..." lines (they name the source)."""
    violations: list[str] = []
    page.expose_function("reportCspViolation", lambda text: violations.append(text))  # noqa: PLW0108 (Playwright tags it)
    page.add_init_script(CSP_WATCH)
    page.on(
        "console",
        lambda message: (
            violations.append(f"console: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def choose_in_autocomplete(page, field: str, text: str) -> None:
    """Pick ``text`` in one of the admin's autocomplete fields (select2, e.g. a campaign's lists):
    open it, type, and click the match the server found."""
    page.click(f".field-{field} .select2-selection")
    page.keyboard.type(text)
    page.locator(".select2-results__option:not(.loading-results)", has_text=text).first.click()


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass, reading only and off Playwright: in a
    journey, callbacks, replies and taps are written by the live server's threads (SQLite lets one
    thread write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()

"""Webhook and API requests go past the people's-page middleware (messaging_site/machine_requests.py),
and keep every guard that matters to them."""

from __future__ import annotations

import pytest
from django.test import override_settings

from messaging_site.machine_requests import MACHINE_POLICY, is_machine_request


@pytest.mark.parametrize(
    ("path", "machine"),
    [
        ("/webhooks/twlo/abc/status", True),
        ("/message", True),
        ("/message/", True),
        ("/message/12", True),
        ("/messages/bulk", True),
        ("/messages", True),
        ("/messagesx", False),
        ("/api/docs", False),
        ("/api/openapi.json", False),
        ("/admin/", False),
        ("/admin/webhooks/", False),
        ("/static/admin/css/base.css", False),
    ],
)
def test_which_paths_are_machine_requests(rf, path, machine):
    assert is_machine_request(rf.get(path)) is machine


def test_an_api_request_gets_no_session_cookie_and_a_policy_that_allows_nothing(client, db):
    response = client.post("/message", data="{}", content_type="application/json")
    assert response.status_code == 401
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert response.headers["Content-Security-Policy"] == MACHINE_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_signed_in_staff_members_cookie_does_not_sign_an_api_request_in(admin_client):
    """The API takes its key only: a browser's session (and its CSRF exemption) never counts there."""
    response = admin_client.get("/message/1")
    assert response.status_code == 401
    assert "apikey" in response.json()["errors"][0]["msg"]


def test_a_webhook_still_checks_the_host(client, db):
    with override_settings(ALLOWED_HOSTS=["messaging.example.com"]):
        response = client.post("/webhooks/twlo/anything/status", HTTP_HOST="evil.example")
    assert response.status_code == 400


@override_settings(SECURE_SSL_REDIRECT=True)
def test_a_webhook_over_plain_http_is_still_redirected_to_https(client, db):
    response = client.post("/webhooks/twlo/anything/status")
    assert response.status_code == 301
    assert response.headers["Location"].startswith("https://")


def test_peoples_pages_keep_their_policy_and_session(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.wsgi_request.user.is_staff

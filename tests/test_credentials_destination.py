"""Credentials go only where they were entered for, over http(s), and "check credentials" echoes nothing.

The audit's reproduction: an administrator points a channel's api_base_url at a listener of their
own after the credentials were entered for another host, presses "Check credentials", and the
listener receives `Authorization: Basic` with the auth token, whose reply is then shown on the
page. Here the listener receives nothing, and a listener the credentials *were* entered for
cannot put its words on the page either.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from providers.base import ChannelError
from providers.models import Channel
from providers.registry import provider_for

pytestmark = pytest.mark.django_db

AUTH_TOKEN = "auth-token-0b7d3e55-never-send"
MARKER = "LISTENER-SAYS-3f9a<script>alert(1)</script>"
TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": AUTH_TOKEN}


class Listener:
    """A loopback HTTP server that records every request and answers what it is told."""

    def __init__(self, status: int = 200, body: object = None, headers: dict[str, str] | None = None):
        self.requests: list[dict] = []
        self.status, self.body, self.headers = status, body if body is not None else {}, headers or {}
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                listener.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length).decode()}
                )
                payload = json.dumps(listener.body).encode()
                self.send_response(listener.status)
                for name, value in {"Content-Type": "application/json", **listener.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener(status=200, body={"friendly_name": MARKER, "status": "active", "message": MARKER})
    yield server
    server.close()


def change_url(channel: Channel) -> str:
    return reverse("admin:providers_channel_change", args=[channel.pk])


def form(channel: Channel, **changes) -> dict:
    data = {
        "name": channel.name,
        "provider": channel.provider,
        "sender": channel.sender,
        "rate_limit": channel.rate_limit,
        "batch_size": channel.batch_size,
        "api_base_url": channel.api_base_url,
        "options": json.dumps(channel.options or {}),
        "is_active": "on",
        "paused_reason": "",
        "new_credentials": "",
    }
    return {**data, **changes}


def check(client, channel: Channel) -> list[str]:
    data = {"action": "check_credentials", "_selected_action": [channel.pk]}
    response = client.post(reverse("admin:providers_channel_changelist"), data, follow=True)
    assert MARKER not in response.content.decode()
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def twilio_channel() -> Channel:
    """Credentials entered for Twilio's own address (no api_base_url)."""
    return Channel.objects.create(name="Twilio", provider="twlo", sender="+15005550006", credentials=TWILIO)


# --- only http(s), named with the field and the value ------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("ftp://files.example.com/api", "only http:// and https://"),
        ("gopher://127.0.0.1:70/_x", "only http:// and https://"),
        ("http://169.254.169.254/latest", "link-local"),
        ("https://user:pass@api.example.com", "not in the address"),
    ],
)
def test_api_base_url_takes_only_http_addresses_and_says_which_field_and_value(staff, twilio_channel, value, reason):
    response = staff.post(change_url(twilio_channel), form(twilio_channel, api_base_url=value))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors["api_base_url"]
    assert any(f"api_base_url: {value!r} is not accepted" in error and reason in error for error in errors), errors
    twilio_channel.refresh_from_db()
    assert twilio_channel.api_base_url == ""


def test_the_bulk_api_address_in_options_takes_only_http_too(staff, twilio_channel):
    options = json.dumps({"bulk_mode": True, "bulk_api_base_url": "ftp://x.example.com"})
    response = staff.post(change_url(twilio_channel), form(twilio_channel, options=options))
    errors = response.context["adminform"].form.errors["options"]
    assert "options.bulk_api_base_url: 'ftp://x.example.com' is not accepted" in errors[0]


# --- the audit's reproduction -----------------------------------------------------------------


def test_a_new_address_without_the_credentials_typed_again_is_refused_on_the_form(staff, twilio_channel, listener):
    response = staff.post(change_url(twilio_channel), form(twilio_channel, api_base_url=listener.url))
    errors = response.context["adminform"].form.errors["api_base_url"]
    assert f"would send its credentials to {listener.url}" in errors[0]
    assert "entered for https://api.twilio.com, https://preview.messaging.twilio.com" in errors[0]
    assert "Type them again (Account SID (AC...), Auth token)" in errors[0]
    twilio_channel.refresh_from_db()
    assert twilio_channel.api_base_url == ""
    assert listener.requests == []


def test_an_address_changed_behind_the_forms_back_gets_no_credentials_from_check(staff, twilio_channel, listener):
    Channel.objects.filter(pk=twilio_channel.pk).update(api_base_url=listener.url)  # e.g. a bulk UPDATE
    messages = check(staff, twilio_channel)
    assert listener.requests == []
    assert messages[-1:] == [
        f"Twilio: api_base_url: the credentials were entered for https://api.twilio.com, "
        f"https://preview.messaging.twilio.com, not {listener.url}: an administrator must type them again "
        "on the channel's page before they are sent there."
    ]


def test_an_address_changed_behind_the_forms_back_gets_no_message_either(twilio_channel, listener):
    Channel.objects.filter(pk=twilio_channel.pk).update(api_base_url=listener.url)
    message = OutboundMessage.send_one(channel=twilio_channel, to="+14155550123", text="Hi", enqueue=False)
    send_messages([message.pk])
    assert listener.requests == []
    twilio_channel.refresh_from_db()
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.QUEUED  # kept, not lost
    assert "the credentials were entered for https://api.twilio.com" in twilio_channel.paused_reason


def test_credentials_typed_again_with_the_new_address_go_there(staff, twilio_channel, listener):
    typed = {"credential__twlo__account_sid": TWILIO["account_sid"], "credential__twlo__auth_token": "new-token"}
    response = staff.post(change_url(twilio_channel), form(twilio_channel, api_base_url=listener.url, **typed))
    assert response.status_code == 302
    twilio_channel.refresh_from_db()
    assert twilio_channel.credentials == {"account_sid": TWILIO["account_sid"], "auth_token": "new-token"}
    assert twilio_channel.credentials_entered_for == listener.url
    assert check(staff, twilio_channel)[-1:] == [
        f"Twilio: Twilio accepted the credentials of the account {TWILIO['account_sid']}, which is active."
    ]
    assert listener.requests[0]["headers"]["Authorization"].startswith("Basic ")


def test_typing_only_some_credentials_with_a_new_address_is_not_enough(staff, twilio_channel, listener):
    typed = {"credential__twlo__auth_token": "new-token"}
    response = staff.post(change_url(twilio_channel), form(twilio_channel, api_base_url=listener.url, **typed))
    assert "Type them again" in response.context["adminform"].form.errors["api_base_url"][0]
    twilio_channel.refresh_from_db()
    assert twilio_channel.credentials == TWILIO


def test_the_channel_page_says_where_the_credentials_were_entered_for(staff, twilio_channel):
    page = staff.get(change_url(twilio_channel)).content.decode()
    assert "Credentials entered for" in page
    assert "https://api.twilio.com, https://preview.messaging.twilio.com" in page
    assert AUTH_TOKEN not in page


def test_a_redirect_is_never_followed_with_the_credentials(twilio_channel):
    elsewhere = Listener()
    redirecting = Listener(status=307, headers={"Location": f"{elsewhere.url}/steal"})
    try:
        channel = Channel.objects.create(
            name="Sendbulk",
            provider="sendbulk",
            sender="DEMO",
            api_base_url=f"{redirecting.url}/api/services",
            credentials={"partner_id": "1", "apikey": AUTH_TOKEN},
        )
        with pytest.raises(ChannelError):
            provider_for(channel).check_credentials()
        assert len(redirecting.requests) == 1
        assert elsewhere.requests == []
    finally:
        redirecting.close()
        elsewhere.close()


# --- "check credentials" never echoes the remote body --------------------------------------------


@pytest.mark.parametrize("status", [200, 400, 401, 500])
@pytest.mark.parametrize(
    ("provider", "credentials", "path"),
    [
        ("twlo", TWILIO, ""),
        ("gswa", {"apikey": AUTH_TOKEN, "app_name": "shop"}, ""),
        ("sendbulk", {"partner_id": "1", "apikey": AUTH_TOKEN}, "/api/services"),
    ],
)
def test_check_credentials_never_shows_what_the_remote_end_said(staff, provider, credentials, path, status):
    body = {
        "friendly_name": MARKER,
        "status": MARKER,
        "message": MARKER,
        "code": MARKER,
        "templates": MARKER,
        "balance": MARKER,
        "response-code": 1006 if status == 400 else 200,
        "response-description": MARKER,
    }
    remote = Listener(status=status, body=body)
    try:
        channel = Channel.objects.create(
            name=f"{provider} {status}",
            provider=provider,
            sender="+15005550006",
            api_base_url=f"{remote.url}{path}",
            credentials=credentials,
        )
        messages = check(staff, channel)
        assert remote.requests, "the check did reach the address the credentials were entered for"
        assert messages and all(MARKER not in message and "LISTENER" not in message for message in messages)
    finally:
        remote.close()

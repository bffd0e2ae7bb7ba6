"""The channel page shows administrators the addresses its provider calls us on, with copy buttons
and setup steps, and shows Marketing (who only view channels) none of them: each carries the token."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging_site.services import remember_public_base_url
from providers.models import Channel
from providers.webhook_addresses import is_loopback
from tests.browser import log_in, shot

pytestmark = pytest.mark.django_db
PUBLIC = "https://sms.example.org"


@pytest.fixture
def public_site(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


def make_channel(provider: str) -> Channel:
    return Channel.objects.create(name=f"Demo {provider}", provider=provider, sender="+15005550006")


def change_page(client, channel: Channel) -> str:
    response = client.get(reverse("admin:providers_channel_change", args=[channel.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("provider", "paths", "step"),
    [
        ("twlo", ["/webhooks/twlo/{token}/inbound", "/webhooks/twlo/{token}/status"], "A message comes in"),
        ("twlowa", ["/webhooks/twlowa/{token}/inbound", "/webhooks/twlowa/{token}/status"], "WhatsApp sender"),
        ("gswa", ["/webhooks/gswa/{token}/events"], "callback address"),
        ("sendbulk", ["/webhooks/sendbulk/{token}/dlr"], "document no way to pass on replies"),
    ],
)
def test_an_administrator_sees_each_providers_addresses_and_steps(staff, public_site, provider, paths, step):
    channel = make_channel(provider)
    page = change_page(staff, channel)
    assert "Webhook addresses" in page
    for path in paths:
        url = PUBLIC + path.format(token=channel.webhook_token)
        assert f'value="{url}"' in page
    assert page.count('class="button copy-button"') == len(paths)
    assert step in page
    assert "copy_buttons.js" in page
    assert "cannot reach it" not in page  # a public address: no warning


def test_the_addresses_shown_are_the_ones_the_webhooks_answer_on(staff, public_site):
    """A Gupshup callback to the shown address finds the channel (a 400 for an empty body, not a 404)."""
    channel = make_channel("gswa")
    page = change_page(staff, channel)
    path = f"/webhooks/gswa/{channel.webhook_token}/events"
    assert f'value="{PUBLIC}{path}"' in page
    assert staff.post(path, "{}", content_type="application/json").status_code != 404
    unknown = path.replace(channel.webhook_token, "x" + channel.webhook_token)
    assert staff.post(unknown, "{}", content_type="application/json").status_code == 404


def test_the_sandbox_needs_no_address(staff, public_site):
    page = change_page(staff, make_channel("sandbox"))
    assert "Nothing to set up" in page
    assert "copy-button" not in page
    assert "/webhooks/" not in page


def test_marketing_sees_no_address_and_no_token(client, marketing_staff, public_site):
    client.force_login(marketing_staff)
    for provider in ("twlo", "gswa", "sendbulk"):
        channel = make_channel(provider)
        page = change_page(client, channel)
        assert channel.webhook_token not in page
        assert "/webhooks/" not in page
        assert "Webhook addresses" not in page


def test_a_loopback_public_address_is_warned_about(staff, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    page = change_page(staff, make_channel("twlo"))
    assert "PUBLIC_BASE_URL is http://127.0.0.1:8000, an address of this machine only" in page
    assert 'value="http://127.0.0.1:8000/webhooks/twlo/' in page  # still shown: a local fake can use them


def test_the_sandbox_gets_no_loopback_warning(staff, settings):
    settings.PUBLIC_BASE_URL = "http://localhost:8000"
    assert "an address of this machine only" not in change_page(staff, make_channel("sandbox"))


@pytest.mark.parametrize(
    ("base", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8000", True),
        ("http://0.0.0.0:8000", True),
        ("http://app.localhost", True),
        ("http://127.8.9.10", True),
        ("https://sms.example.org", False),
        ("https://203.0.113.7:8443", False),
        ("http://192.168.1.20:8000", False),  # a LAN: a local fake or tunnel may reach it
    ],
)
def test_loopback_addresses(base, loopback):
    assert is_loopback(base) is loopback


def test_the_copy_button_puts_the_address_on_the_clipboard(page, live_server, administrator, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    channel = make_channel("twlo")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "maria", f"/admin/providers/channel/{channel.pk}/change/")
    panel = page.locator("#webhook-addresses")
    panel.scroll_into_view_if_needed()
    inbound = f"{PUBLIC}/webhooks/twlo/{channel.webhook_token}/inbound"
    status = f"{PUBLIC}/webhooks/twlo/{channel.webhook_token}/status"
    assert panel.locator("input.webhook-url").nth(0).input_value() == inbound
    panel.locator("button.copy-button").nth(1).click()
    page.wait_for_function("() => document.querySelectorAll('.copy-result')[1].textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == status
    panel.locator("button.copy-button").nth(0).click()
    page.wait_for_function("() => document.querySelectorAll('.copy-result')[0].textContent === 'Copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == inbound
    shot(page, "channel_webhook_addresses")


def test_marketing_in_the_browser_sees_the_channel_without_its_addresses(page, live_server, marketing_staff, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    channel = make_channel("gswa")
    log_in(page, live_server, "mia", f"/admin/providers/channel/{channel.pk}/change/")
    page.wait_for_selector("text=Demo gswa")
    assert page.locator("#webhook-addresses").count() == 0
    assert channel.webhook_token not in page.content()
    shot(page, "channel_webhook_addresses_marketing")


def test_make_run_writes_its_port_where_the_shell_reads_it(tmp_path):
    """`PORT=8001 make run` serves on 8001: var/local.env says so, so a Django shell builds the same URLs."""
    local_env = tmp_path / "local.env"
    local_env.write_text("DEBUG=true\n")
    assert remember_public_base_url(local_env, "8001") == "http://127.0.0.1:8001"
    assert remember_public_base_url(local_env, "8002") == "http://127.0.0.1:8002"
    assert load_local_env_values(local_env)["PUBLIC_BASE_URL"] == "http://127.0.0.1:8002"
    assert local_env.read_text().count("PUBLIC_BASE_URL=") == 1


def test_make_run_keeps_a_public_address_written_in_the_local_settings(tmp_path):
    local_env = tmp_path / "local.env"
    local_env.write_text("DEBUG=true\nPUBLIC_BASE_URL=https://abc123.ngrok.app/\n")
    assert remember_public_base_url(local_env, "8001") == "https://abc123.ngrok.app"
    assert "PUBLIC_BASE_URL=https://abc123.ngrok.app/" in local_env.read_text()


def load_local_env_values(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))

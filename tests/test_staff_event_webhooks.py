"""An administrator's journey with event webhooks, in Chromium: add an endpoint (its secret shown
once), rotate its secret (the new one shown once, the old one signing too for a while), read its
delivery log (times in their zone, named) and send an event again, and see on the dashboard that an
endpoint failing for a day was switched off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_adds_an_endpoint_and_sees_its_secret_once(page, live_server, nairobi_staff):
    log_in(page, live_server, "amina", "/admin/campaigns/webhookendpoint/add/")
    page.fill("#id_url", "https://crm.example.com/hooks/sms")
    page.fill("#id_description", "CRM")
    page.check("input[name=event_types][value='message.delivered']")
    page.check("input[name=event_types][value='contact.opted_out']")
    shot(page, "webhook-endpoint-add")
    page.click("input[name=_save]")
    message = page.locator(".messagelist .warning").inner_text()
    assert "signing secret is whsec_" in message and "will not be shown again" in message
    secret = message.split("signing secret is ")[1].split(" ")[0]
    assert WebhookEndpoint.objects.get().secret == secret
    shot(page, "webhook-endpoint-list")
    page.click("#result_list a:text('CRM')")
    page.wait_for_selector(".delivery-log-link")
    assert secret not in page.content()  # never rendered back


def test_the_delivery_log_lists_attempts_in_the_staff_zone_and_sends_one_again(page, live_server, nairobi_staff):
    endpoint = WebhookEndpoint.objects.create(
        url="https://crm.example.com/hooks/sms",
        description="CRM",
        secret="whsec_dGVzdA==",
        event_types=["message.sent"],
    )
    event = WebhookEvent.objects.create(
        event_id="evt_0193a4f1c2d3e4f5a6b7c8d9e", type="message.sent", payload={}, endpoint=endpoint,
        status=WebhookEvent.Status.FAILED, attempts=2, last_status_code=500,
    )  # fmt: skip
    at = timezone.now() - timedelta(minutes=3)
    WebhookAttempt.objects.create(event=event, endpoint=endpoint, status_code=500, error="HTTP 500", at=at)
    WebhookAttempt.objects.create(event=event, endpoint=endpoint, error="Could not connect: Connection refused", at=at)
    log_in(page, live_server, "amina", f"/admin/campaigns/webhookendpoint/{endpoint.pk}/log/")
    assert "Africa/Nairobi" in page.locator(".webhook-log-help").inner_text()
    rows = page.locator("#webhook-attempts tbody tr")
    assert rows.count() == 2 and "HTTP 500" in rows.nth(1).inner_text()
    assert "Connection refused" in rows.nth(0).inner_text()
    shot(page, "webhook-delivery-log")
    rows.nth(0).locator("button.send-again").click()
    assert "will be sent again" in page.locator(".messagelist").inner_text()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING


def test_the_dashboard_says_an_endpoint_was_switched_off(page, live_server, nairobi_staff):
    WebhookEndpoint.objects.create(
        url="https://crm.example.com/hooks/sms", secret="whsec_dGVzdA==", event_types=["message.sent"], enabled=False,
        disabled_at=timezone.now(), failing_since=timezone.now() - timedelta(hours=24, minutes=5),
        disabled_reason="Every delivery failed for more than 24 hours; last answer: HTTP 503",
    )  # fmt: skip
    log_in(page, live_server, "amina")
    item = page.locator("li.webhook")
    assert "https://crm.example.com/hooks/sms was switched off" in item.inner_text()
    assert "HTTP 503" in item.inner_text()
    shot(page, "dashboard-webhook-switched-off")
    item.locator("a").click()
    page.wait_for_selector("#id_url")
    shot(page, "webhook-endpoint-change")


def test_an_administrator_rotates_an_endpoints_secret_and_sees_the_new_one_once(page, live_server, nairobi_staff):
    endpoint = WebhookEndpoint.objects.create(
        url="https://crm.example.com/hooks/sms", description="CRM", secret="whsec_b2xkLXNlY3JldA==",
        event_types=["message.sent"], secret_made_at=timezone.now() - timedelta(days=90),
    )  # fmt: skip
    log_in(page, live_server, "amina", f"/admin/campaigns/webhookendpoint/{endpoint.pk}/change/")
    assert "Rotating" not in page.locator(".field-signing_secret").inner_text()
    page.click("button.rotate-secret-button")
    message = page.locator(".messagelist .warning").inner_text()
    assert "new signing secret is whsec_" in message and "will not be shown again" in message
    assert "Africa/Nairobi" in message and "two signatures" in message
    new = message.split("new signing secret is ")[1].split(" ")[0]
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (new, "whsec_b2xkLXNlY3JldA==")
    state = page.locator(".field-signing_secret").inner_text()
    assert "Rotating" in state and "previous secret signs too until" in state
    shot(page, "webhook-endpoint-rotated")
    page.reload()
    assert new not in page.content() and "whsec_b2xkLXNlY3JldA==" not in page.content()  # never rendered back
    page.goto(f"{live_server.url}/admin/campaigns/webhookendpoint/{endpoint.pk}/history/")
    assert "Rotated the signing secret." in page.content() and new not in page.content()

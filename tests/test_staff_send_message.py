"""A staff member logs into the admin, sends one message, and sees it sent by the worker."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from campaigns.models import OutboundMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_superuser("maria", "maria@example.com", "a-long-test-password")


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_staff_send_a_message_from_the_admin_and_see_it_sent(page, live_server, staff_user, channel, worker):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/add/")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("#id_to", "+44 7911 123456")
    page.fill("#id_body", "Spring sale starts today")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    message = OutboundMessage.objects.get()
    assert (message.to, message.body, message.sender_label) == ("+447911123456", "Spring sale starts today", "maria")

    worker()
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/")
    row = page.locator("#result_list tbody tr").first
    assert "Sent" in row.inner_text()
    assert message.to in row.inner_text()


def test_a_bad_number_is_refused_with_a_message_naming_it(page, live_server, staff_user, channel):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/add/")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("#id_to", "12345")
    page.fill("#id_body", "Hello")
    page.click("input[name=_save]")
    error = page.locator(".errorlist").first.inner_text()
    assert "'12345'" in error
    assert not OutboundMessage.objects.exists()

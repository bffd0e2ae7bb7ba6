"""A staff member logs into the admin, sends one message, and sees it sent by the worker."""

from __future__ import annotations

import pytest

from campaigns.models import OutboundMessage
from tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_send_a_message_from_the_admin_and_see_it_sent(page, live_server, administrator, channel, worker):
    log_in(page, live_server, "maria")
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


def test_a_bad_number_is_refused_with_a_message_naming_it(page, live_server, administrator, channel):
    log_in(page, live_server, "maria")
    page.goto(f"{live_server.url}/admin/campaigns/outboundmessage/add/")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("#id_to", "12345")
    page.fill("#id_body", "Hello")
    page.click("input[name=_save]")
    error = page.locator(".errorlist").first.inner_text()
    assert "'12345'" in error
    assert not OutboundMessage.objects.exists()

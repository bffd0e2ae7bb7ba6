"""A staff member builds a campaign to a contact list and launches it, in a real browser."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.browser import choose_in_autocomplete, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_build_launch_and_watch_a_campaign_complete(
    page, live_server, channel, make_contact, make_list, worker, administrator
):
    customers = make_list("Customers", [make_contact("+447911123401", "Ann"), make_contact("+447911123402", "Bob")])

    log_in(page, live_server, "maria", "/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Spring sale")
    page.select_option("#id_channel", str(channel.pk))
    choose_in_autocomplete(page, "lists", customers.name)
    page.fill("#id_text", "Hi {{ name }}, 20% off today")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.locator("#result_list tbody tr").filter(has_text="Spring sale").locator("input.action-select").check()
    page.select_option("select[name=action]", "launch")
    page.click("button[name=index]")
    assert "Spring sale" in page.locator(".confirm-named").inner_text()  # it asks first, naming the campaign
    page.click("input[value='Yes, launch them']")
    assert "Spring sale: launched" in page.locator(".messagelist").inner_text()

    worker()
    page.reload()
    row = page.locator("#result_list tbody tr").filter(has_text="Spring sale").inner_text()
    assert "Completed" in row
    campaign = Campaign.objects.get(name="Spring sale")
    assert sorted(campaign.messages.values_list("to", "status")) == [
        ("+447911123401", "sent"),
        ("+447911123402", "sent"),
    ]

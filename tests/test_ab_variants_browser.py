"""A marketing person builds an A/B test on a campaign's page and picks its winner, in real Chromium
against the live server and a real worker (the loopback Twilio fake). Screenshots go to
SCREENSHOTS_DIR/ab/."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignVariant
from tests import browser, test_ab_variants
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)
worker = test_ab_variants.worker  # the real worker, run again while a "late" send waits for its retry
NUMBERS = [f"+4479111237{n:02d}" for n in range(40)]


@pytest.fixture
def draft(make_twilio_channel, make_contact, make_list) -> Campaign:
    customers = make_list("Customers", [make_contact(phone, f"Person{n} Example") for n, phone in enumerate(NUMBERS)])
    campaign = Campaign.objects.create(name="Spring sale A/B", channel=make_twilio_channel(), text="")
    campaign.lists.set([customers])
    return campaign


def test_a_marketing_person_tests_two_texts_and_picks_the_winner(
    page, live_server, marketing_staff, draft, worker, fake_twilio
):
    page.on("dialog", lambda dialog: dialog.accept())
    change = f"/admin/campaigns/campaign/{draft.pk}/change/"
    browser.log_in(page, live_server, marketing_staff.username, change)

    page.fill("textarea[name=variants-0-text]", "Hi {{ first_name }}, 20% off everything today")
    page.fill("textarea[name=variants-1-text]", "{{ first_name }}, your spring discount is waiting 🌸")
    page.fill("input[name=variants-0-share]", "50")
    page.fill("input[name=variants-1-share]", "40")
    assert page.locator("#variant-split-total").inner_text() == "Split: 90% of 100% (must add up to 100)"
    assert "UCS-2" in page.locator("textarea[name=variants-1-text] + .variant-count").inner_text()  # the flower: UCS-2
    page.fill("input[name=test_share]", "50")
    page.select_option("select[name=winner_by]", "person")
    browser.shot(page, "ab/1-form-split-90")
    page.click("input[name=_continue]")
    page.wait_for_selector(".errornote")
    assert "share: the split percentages add up to 90 (50 + 40), not 100." in page.content()
    browser.shot(page, "ab/2-refused")

    page.fill("input[name=variants-1-share]", "50")
    assert page.locator("#variant-split-total").inner_text() == "Split: 100% of 100%"
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert list(draft.variants.values_list("position", "share")) == [(1, 50), (2, 50)]

    page.click("button.verb-launch")
    page.wait_for_selector(".messagelist .success")
    page.goto("about:blank")  # the campaign page polls and reloads itself: none of that while the worker runs
    worker()  # the test's half goes; the rest waits for a person's pick
    page.goto(f"{live_server.url}{change}")
    page.wait_for_selector("#variant-results")
    tested = len(fake_twilio.received)
    assert 0 < tested < len(NUMBERS)
    assert "wait for the winner, which you pick below" in page.locator("#ab-test-state").inner_text()
    assert "Waiting for the A/B winner" in page.locator(".progress-legend").inner_text()
    browser.shot(page, "ab/3-test-results")

    page.click("text=Pick B as the winner")
    page.wait_for_selector(".messagelist .success")
    assert "Variant B is the winner: it goes to the rest now." in page.locator(".messagelist").inner_text()
    page.goto("about:blank")
    worker()
    page.goto(f"{live_server.url}{change}")
    page.wait_for_selector("tr.winner")
    assert page.locator("tr.winner th").inner_text().startswith("B")
    browser.shot(page, "ab/4-winner-picked")

    assert sorted(request.form["To"][0] for request in fake_twilio.received) == NUMBERS  # each once
    assert Campaign.objects.get(pk=draft.pk).status == Campaign.Status.COMPLETED
    assert CampaignVariant.objects.filter(campaign=draft).count() == 2

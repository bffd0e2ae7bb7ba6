"""The SMS fallback fields of a WhatsApp campaign, in real Chromium against the live server: the
fallback channel refused by name when it is not an SMS one, the segment counter under the text as it
is typed, and the campaign page counting the fallbacks apart. Screenshots go to SCREENSHOTS_DIR/fallback/."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from providers.models import Channel
from tests import browser

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status


@pytest.fixture
def channels(db) -> dict[str, Channel]:
    return {
        "whatsapp": Channel.objects.create(name="Shop WhatsApp", provider="gswa", sender="+15550001111"),
        "other_whatsapp": Channel.objects.create(name="Twilio WhatsApp", provider="twlowa", sender="+15550001112"),
        "sms": Channel.objects.create(
            name="Shop SMS", provider="twlo", sender="+15005550006", price_per_segment="0.0079", currency="USD"
        ),
    }


def test_staff_give_a_whatsapp_campaign_an_sms_fallback(page, live_server, administrator, channels, make_list):
    draft = Campaign.objects.create(name="Spring sale", channel=channels["whatsapp"], text="Hi {{ first_name }}")
    change = f"/admin/campaigns/campaign/{draft.pk}/change/"
    browser.log_in(page, live_server, administrator.username, change)

    page.select_option("#id_fallback_channel", label="Twilio WhatsApp (Twilio WhatsApp)")
    page.fill("#id_fallback_text", "Hi {{ first_name }}, our spring sale starts Saturday: 20% off everything.")
    counter = page.locator("#fallback-counter")
    assert counter.inner_text().startswith("GSM-7 · 73 characters, 1 SMS segment (83 characters left in the last)")
    page.fill("#id_fallback_after", "30")
    page.click("input[name=_continue]")
    page.wait_for_selector(".errornote")
    error = page.locator(".field-fallback_channel .errorlist").inner_text()
    assert error == (
        "fallback_channel: 'Twilio WhatsApp' is a Twilio WhatsApp channel; the fallback goes by SMS, "
        "so choose an SMS channel."
    )
    browser.shot(page, "fallback/1-whatsapp-channel-refused")

    page.select_option("#id_fallback_channel", label="Shop SMS (Twilio SMS)")
    page.fill("#id_fallback_text", "Hi {{ first_name }}, our spring sale starts Saturday 🌸")
    assert page.locator("#fallback-counter").get_attribute("data-encoding") == "UCS-2"
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    draft.refresh_from_db()
    assert (draft.fallback_channel, draft.fallback_after) == (channels["sms"], 30)
    assert draft.fallback_text == "Hi {{ first_name }}, our spring sale starts Saturday 🌸"
    assert page.locator("#id_fallback_text").input_value() == draft.fallback_text  # shown again as saved
    browser.shot(page, "fallback/2-saved")

    # Once it ran: the campaign page counts the SMS fallbacks apart from the WhatsApp messages.
    now = timezone.now()
    Campaign.objects.filter(pk=draft.pk).update(
        status=Campaign.Status.COMPLETED, started_at=now, finished_at=now, fanned_out_at=now, recipient_count=3
    )
    for n, status in enumerate([Status.DELIVERED, Status.DELIVERED, Status.FAILED]):
        to = f"+44770090010{n}"
        whatsapp = OutboundMessage.objects.create(
            campaign=draft, channel=channels["whatsapp"], to=to, recipient_key=to, status=status, sent_at=now
        )
    OutboundMessage.objects.filter(pk=whatsapp.pk).update(error_code="1002", error_message="Not on WhatsApp")
    OutboundMessage.objects.create(
        channel=channels["sms"], to=whatsapp.to, status=Status.DELIVERED, fallback_for=whatsapp,
        fallback_campaign=draft, fallback_reason="not_on_whatsapp", sent_at=now,
    )  # fmt: skip
    page.goto(f"{live_server.url}{change}")
    page.wait_for_selector("#fallback-figures")
    figures = page.locator("#fallback-figures").inner_text()
    assert figures.startswith("SMS fallbacks: 1 (1 delivered, 0 failed, 0 to go)\n")
    # Counted once, in the progress (no table of the same counts under "Did it work?"); their cost
    # once, beside the campaign's own under Actual cost.
    assert "cost" not in figures.split("\n")[0]
    assert page.locator("#campaign-analytics [data-fallback], #analytics-fallbacks").count() == 0
    cost = page.locator("#analytics-fallback-cost").inner_text()
    assert cost.startswith("+ 0.01 USD\nfor 1 SMS fallback through Shop SMS (1 segment)")
    browser.shot(page, "fallback/3-progress")

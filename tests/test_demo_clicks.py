"""The demo's fake recipients tap some of the short links they got, through the real /l/ route, so a
demo campaign's funnel shows clicks without a provider account (providers/fakes/replies.py DemoClicks).

Real worker, real HTTP from the loopback Twilio fake to the live server's redirect."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from campaigns.links import count_clicks
from campaigns.models import Campaign, LinkClick, ShortLink
from providers.fakes.replies import PHONE_AGENT, DemoClicks
from tests import test_twilio_support as support

pytestmark = pytest.mark.django_db(transaction=True)
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
PEOPLE = [f"+4479111234{n:02d}" for n in range(10)]


def settled(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll, reading only: the fake's callbacks and taps are written by the live server's threads,
    and SQLite's shared in-memory test database takes one writer at a time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)
    return check()


@pytest.fixture
def demo_campaign(live_server, settings, fake_twilio, make_twilio_channel, make_contact, make_list):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SHORT_LINK_BASE_URL = f"{live_server.url}/l/"
    channel = make_twilio_channel()
    fake_twilio.send_callbacks = True
    fake_twilio.behaviour.callback_delay = 0.05
    people = [make_contact(phone, f"Person {n}") for n, phone in enumerate(PEOPLE)]
    campaign = Campaign.objects.create(
        name="Spring", channel=channel, text="Sale: https://shop.example/sale, and (https://shop.example/faq)."
    )
    campaign.lists.add(make_list("Customers", people))
    return campaign


def test_a_demo_send_gets_some_clicks_through_the_real_redirect(demo_campaign, fake_twilio, worker):
    fake_twilio.clicks = DemoClicks(rate=0.5, seed=3, delay=0.05)
    draws = random.Random(3)
    tappers = sum(draws.random() < 0.5 for _ in PEOPLE)  # one draw per delivered message, whatever their order
    assert 0 < tappers < len(PEOPLE)  # some recipients, not all
    # SQLite takes one writer at a time: the receipts wait for the worker, the taps for the receipts.
    fake_twilio.hold_callbacks()
    fake_twilio.clicks.taps_go.clear()
    assert demo_campaign.launch()
    worker()
    fake_twilio.release_callbacks()
    assert settled(lambda: len([c for c in fake_twilio.callbacks if c[1].get("MessageStatus") == "delivered"]) == 10)
    fake_twilio.clicks.taps_go.set()
    assert settled(lambda: len(fake_twilio.tapped) == 2 * tappers)  # each taps both links
    tapped = list(fake_twilio.tapped)
    assert {status for _, status in tapped} == {302}  # the real redirect answered
    assert LinkClick.objects.count() == len(tapped)  # counted: a phone's browser is no preview fetcher

    assert settled(lambda: len([c for c in fake_twilio.callbacks if c[1].get("MessageStatus") == "delivered"]) == 10)
    worker()  # applies the receipts
    count_clicks()
    clicked = ShortLink.objects.filter(campaign_id=demo_campaign.pk, click_count__gt=0)
    assert clicked.count() == len(tapped) and all(link.first_click_at for link in clicked)
    codes = {link.rsplit("/", 1)[1] for link, _ in tapped}
    assert set(clicked.values_list("code", flat=True)) == codes

    from campaigns.analytics import campaign_analytics

    steps = {step.key: step.number for step in campaign_analytics(demo_campaign, "")["funnel"]}
    assert (steps["delivered"], steps["clicked"], steps["clicks"]) == (10, len(tapped) // 2, len(tapped))


def test_nobody_taps_unless_told_and_a_text_without_short_links_is_never_tapped():
    assert DemoClicks().pick("See https://s.example/l/Abc12345") == []
    everyone = DemoClicks(rate=1.0)
    assert everyone.pick("See https://s.example/l/Abc12345. Or https://s.example/l/Zz9Zz9Zz!") == [
        "https://s.example/l/Abc12345",
        "https://s.example/l/Zz9Zz9Zz",
    ]
    assert everyone.pick("See https://shop.example/sale or https://s.example/l/Abc123456") == []
    with pytest.raises(ValueError, match=r"--click-rate: 2\.0 is not a share between 0 and 1\."):
        DemoClicks(rate=2.0)
    assert "iPhone" in PHONE_AGENT and "Mobile" in PHONE_AGENT


def test_the_gupshup_fake_taps_the_links_of_a_delivered_message(live_server, settings, worker, make_contact, make_list):
    from campaigns.models import OutboundMessage
    from providers.gupshup.fake import FakeGupshup, GupshupConfig
    from tests.test_test_replies import gupshup_channel

    settings.PUBLIC_BASE_URL = live_server.url
    settings.SHORT_LINK_BASE_URL = f"{live_server.url}/l/"
    with FakeGupshup(GupshupConfig("k", "demo-app", clicks=DemoClicks(rate=1.0, delay=0.05))) as fake:
        fake.behaviour.callback_delay = 0.05
        channel = gupshup_channel(api_base_url=fake.base_url)
        fake.config.callback_url = channel.webhook_url("events")
        campaign = Campaign.objects.create(name="Spring", channel=channel, text="Sale: https://shop.example/sale.")
        campaign.lists.add(make_list("Customers", [make_contact(PEOPLE[0])]))
        fake.hold_callbacks()  # until the worker is done: SQLite takes one writer at a time
        fake.config.clicks.taps_go.clear()  # and the tap until the events are written
        assert campaign.launch()
        worker()
        fake.release_callbacks()
        assert settled(lambda: len(fake.callbacks) == 3)  # enqueued, sent, delivered
        fake.config.clicks.taps_go.set()
        assert settled(lambda: len(fake.tapped) == 1)
        ((link, status),) = fake.tapped
        assert status == 302 and LinkClick.objects.filter(link__code=link.rsplit("/", 1)[1]).count() == 1
        assert OutboundMessage.objects.get(campaign=campaign).body == f"Sale: {link}."

"""Did it work, and which text worked better? One marketing person's A/B campaign on the demo channel,
end to end in Chromium on real parts: the live server, a real RQ worker, real Redis, and the
loopback Twilio fake as "Demo Twilio SMS (fake)", whose recipients tap some of the short links they
got, as the demo's do (providers/fakes/replies.py DemoClicks), through the real /l/ redirect.

Through the admin only, as a Marketing staff member (not a superuser) in Nairobi's time zone: build
the campaign with two variants holding a link, a 50/50 split and "test then winner" on 20% of the
audience; launch it; watch the funnel and the chart fill on the campaign's page as receipts and
clicks arrive (the page's own refresh, no reload); read the clicks per variant, pick the better one
by hand before the wait is over, and see the rest of the audience get it. Then the database: one
message per recipient, one variant each, the rest all the winner.

Screenshots go to SCREENSHOTS_DIR/ab-journey/ when it is set (we look at them by hand).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

import django_rq
import pytest
from playwright.sync_api import expect

from campaigns.links import count_clicks
from campaigns.models import Campaign, OutboundMessage, StaffProfile
from campaigns.pipeline.queueing import RECEIVING_QUEUE
from providers.fakes.replies import DemoClicks
from tests import test_twilio_support as support
from tests.browser import choose_in_autocomplete, eventually, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel

PEOPLE = [f"+4479111238{n:02d}" for n in range(50)]
TEST_SHARE = 20  # percent of the audience who get the variants first
CLICK_RATE, CLICK_SEED = 0.5, 11  # who taps is drawn once per delivered message, in that order
TEXT_A = "Hi {{ first_name }}, our spring sale is on: https://shop.example/spring"
TEXT_B = "{{ first_name }}, 20% off this weekend only (https://shop.example/spring)!"
WAIT = 60_000  # ms: a loaded 2-core machine; the page refreshes its figures every 5 s


class PageRequests:
    """The page's requests reach the live server only while the test is inside a Playwright call.

    On SQLite in memory the live server's threads share the test's one connection (tests/conftest.py),
    so the page's polls must not run while the worker writes in this thread, nor beside the fakes'
    callbacks and taps. Playwright's sync API answers routes only during its own calls: every request
    of the page waits in the browser while the test runs the worker or waits on the fakes, and
    ``quiet`` lets those already let through finish first."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.open: set = set()
        page.route(f"{base_url}/**", self.let_through)
        page.on("requestfinished", self.finished)
        page.on("requestfailed", self.finished)

    def let_through(self, route) -> None:
        self.open.add(route.request)
        route.continue_()

    def finished(self, request) -> None:
        self.open.discard(request)

    def quiet(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.open:
            assert time.monotonic() < deadline, f"the page's requests did not finish: {self.open}"
            self.page.wait_for_timeout(50)


@pytest.fixture
def demo_channel(live_server, settings, fake_twilio, make_twilio_channel, make_contact, make_list):
    """The demo's Twilio channel and fake, whose recipients tap CLICK_RATE of their links; a list of 50."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SHORT_LINK_BASE_URL = f"{live_server.url}/l/"
    fake_twilio.send_callbacks = True
    fake_twilio.behaviour.callback_delay = 0.05
    fake_twilio.clicks = DemoClicks(rate=CLICK_RATE, seed=CLICK_SEED, delay=0.05)
    make_list("Spring customers", [make_contact(phone, f"Person{n} Example") for n, phone in enumerate(PEOPLE)])
    return make_twilio_channel(name="Demo Twilio SMS (fake)", price_per_segment=Decimal("0.0079"), currency="USD")


@pytest.fixture
def paced_receipts(fake_twilio, monkeypatch):
    """Twilio's receipts come a few at a time, not 50 in the same instant: under a loaded 2-core
    machine the live server (a listen backlog of 10) let some of such a burst time out, and the
    fake, unlike Twilio, never retries a callback."""
    at_once = threading.BoundedSemaphore(4)
    post = fake_twilio.post_signed

    def paced(url: str, params: dict[str, str]) -> int:
        with at_once:
            return post(url, params)

    monkeypatch.setattr(fake_twilio, "post_signed", paced)


def hold_the_fakes(fake) -> None:
    """SQLite takes one writer at a time: receipts wait until the worker is done, taps until the receipts are in."""
    fake.hold_callbacks()
    fake.clicks.taps_go.clear()


def let_receipts_and_taps_come(fake, delivered: int, taps: int) -> None:
    fake.release_callbacks()
    assert eventually(lambda: delivered_receipts(fake) == delivered, timeout=60.0), (delivered, receipt_answers(fake))
    fake.clicks.taps_go.set()
    assert eventually(lambda: len(fake.tapped) == taps, timeout=60.0), (len(fake.tapped), taps)
    assert {status for _, status in fake.tapped} == {302}  # the real redirect answered each


def delivered_receipts(fake) -> int:
    return sum(
        1 for _, params, status in fake.callbacks if params.get("MessageStatus") == "delivered" and status == 200
    )


def receipt_answers(fake) -> Counter:
    """How the live server answered the receipts (status -> how many), for a failure's message."""
    return Counter(status for _, params, status in fake.callbacks if "MessageStatus" in params)


def apply_receipts_and_clicks(worker) -> None:
    """What rqcron starts every few seconds in production: the receipts' and the clicks' jobs."""
    django_rq.get_queue(RECEIVING_QUEUE, commit_mode="auto").enqueue(count_clicks)
    worker()


def work_until(worker, check: Callable[[], bool], timeout: float = 90.0) -> None:
    """Run the worker again until ``check`` holds, as a server's worker keeps going: on a loaded
    machine a batch may be held back as late and get its dispatch job a moment later."""
    deadline = time.monotonic() + timeout
    worker()
    while not check():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.2)
        worker()


def funnel(page, step: str):
    return page.locator(f'#funnel [data-figure="{step}"]')


def chart_total(page, series: str) -> int:
    """The sum of one line of the chart as Chart.js draws it (what the person sees, in figures)."""
    return page.evaluate(
        """(label) => {
          const chart = window.Chart.getChart(document.getElementById("analytics-chart"));
          const line = chart && chart.data.datasets.find((dataset) => dataset.label === label);
          return line ? line.data.reduce((sum, n) => sum + n, 0) : -1;
        }""",
        series,
    )


def wait_for_chart(page, series: str, total: int) -> None:
    page.wait_for_function(
        """([label, total]) => {
          const chart = window.Chart && window.Chart.getChart(document.getElementById("analytics-chart"));
          const line = chart && chart.data.datasets.find((dataset) => dataset.label === label);
          return !!line && line.data.reduce((sum, n) => sum + n, 0) === total;
        }""",
        arg=[series, total],
        timeout=WAIT,
    )


class VariantRow(NamedTuple):
    recipients: int
    clicked: int
    click_rate: str  # as shown: "60.0%", or "—" before any was sent

    @property
    def rate(self) -> float:
        return float(self.click_rate.rstrip("%")) if self.click_rate != "—" else 0.0


def variant_rows(page) -> dict[str, VariantRow]:
    """Each variant's recipients, clicked figure and click rate, as its row on the page shows them
    ("3 60.0%" under Clicked)."""
    found = {}
    for row in page.locator("#variant-results tbody tr").all():
        letter = row.get_attribute("data-variant")
        recipients = int(row.locator("td").nth(2).inner_text())
        shown = row.locator('[data-figure="clicked"]').inner_text()
        match = re.fullmatch(r"(\d+)\s+(\d+\.\d%|—)", shown.strip())
        assert match, f"variant {letter}'s clicks read {shown!r}"
        found[letter] = VariantRow(recipients, int(match[1]), match[2])
    return found


def test_a_marketing_person_runs_an_ab_test_on_the_demo_and_picks_the_winner(
    page, live_server, demo_channel, fake_twilio, paced_receipts, marketing_staff, worker
):
    StaffProfile.objects.create(user=marketing_staff, time_zone="Africa/Nairobi")
    draws = random.Random(CLICK_SEED)
    tappers = [draws.random() < CLICK_RATE for _ in PEOPLE]  # the fake's draws, one per delivered message
    requests_of_page = PageRequests(page, live_server.url)
    page.on("dialog", lambda dialog: dialog.accept())

    # Build: two variants holding a link, split 50/50, tested on 20% with the winner by click rate.
    log_in(page, live_server, marketing_staff.username, "/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Spring sale A/B")
    page.select_option("#id_channel", label=str(demo_channel))  # "Demo Twilio SMS (fake) (Twilio SMS)"
    choose_in_autocomplete(page, "lists", "Spring customers")
    page.fill("textarea[name=variants-0-text]", TEXT_A)
    page.fill("textarea[name=variants-1-text]", TEXT_B)
    page.fill("input[name=variants-0-share]", "50")
    page.fill("input[name=variants-1-share]", "50")
    expect(page.locator("#variant-split-total")).to_have_text("Split: 100% of 100%")
    page.fill("input[name=test_share]", str(TEST_SHARE))
    page.select_option("select[name=test_wait]", "300")  # the shortest wait: the person picks before it
    page.select_option("select[name=winner_by]", "clicks")
    shot(page, "ab-journey/1-new-campaign")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    expect(page.locator('#prelaunch [data-figure="audience"]')).to_have_text(str(len(PEOPLE)))
    expect(page.locator("#launch-ready")).to_be_visible()
    shot(page, "ab-journey/2-draft")
    campaign = Campaign.objects.get(name="Spring sale A/B")
    assert campaign.track_links  # on by default: the texts hold a URL

    # Launch: the test's 20% go out.
    hold_the_fakes(fake_twilio)
    page.click('button[data-verb="launch"]')
    page.wait_for_selector(".messagelist .success")
    requests_of_page.quiet()
    worker()  # the fan-out: each recipient's row, the test's with their variant
    in_test = dict(
        OutboundMessage.objects.filter(campaign=campaign, variant__isnull=False).values_list("to", "variant")
    )
    tested = len(in_test)
    assert 0 < tested < len(PEOPLE)
    work_until(worker, lambda: len(fake_twilio.received) == tested)

    # The test's recipients get their messages and some tap the link: the page fills on its own.
    tapped_in_test = sum(tappers[:tested])
    assert 0 < tapped_in_test < tested, "choose a CLICK_SEED under which some tap, not all"
    let_receipts_and_taps_come(fake_twilio, delivered=tested, taps=tapped_in_test)
    apply_receipts_and_clicks(worker)
    expect(funnel(page, "sent")).to_have_text(str(tested), timeout=WAIT)
    expect(funnel(page, "delivered")).to_have_text(str(tested), timeout=WAIT)
    expect(funnel(page, "clicked")).to_have_text(str(tapped_in_test), timeout=WAIT)
    expect(page.locator('#funnel [data-rate="clicked"]')).to_have_text(f"{tapped_in_test / tested:.1%}")
    wait_for_chart(page, "Clicks", tapped_in_test)
    assert chart_total(page, "Delivered") == tested
    expect(page.locator("#analytics-chart-empty")).to_be_hidden()
    shot(page, "ab-journey/3-funnel-and-chart")

    # The variants' results, and the pick: the better click rate, read off the page.
    page.reload()
    waiting = len(PEOPLE) - tested
    state = page.locator("#ab-test-state")
    expect(state).to_contain_text(f"Tested on {tested} recipient{'s' if tested > 1 else ''} ({TEST_SHARE}% of the")
    expect(state).to_contain_text(f"{waiting} recipients wait for the winner")
    expect(page.locator('#campaign-progress [data-field="rate"]')).to_have_text("0")  # nothing goes meanwhile
    # the automatic pick's time, in her zone, named
    when = re.compile(r"at \d{1,2} \w{3} \d{4}, \d\d:\d\d Africa/Nairobi \(EAT, UTC\+03:00\)\.")
    expect(state).to_contain_text(when)
    in_the_test = variant_rows(page)
    assert sum(row.recipients for row in in_the_test.values()) == tested
    assert sum(row.clicked for row in in_the_test.values()) == tapped_in_test
    winner = max(sorted(in_the_test), key=lambda letter: in_the_test[letter].rate)  # the better click rate; a tie: A
    shot(page, "ab-journey/4-test-results")
    hold_the_fakes(fake_twilio)
    page.click(f"text=Pick {winner} as the winner")
    expect(page.locator(".messagelist")).to_contain_text(f"Variant {winner} is the winner: it goes to the rest now.")
    requests_of_page.quiet()
    work_until(worker, lambda: len(fake_twilio.received) >= len(PEOPLE))

    # The rest get the winner; their clicks join the funnel and the chart.
    tapped = sum(tappers)
    let_receipts_and_taps_come(fake_twilio, delivered=len(PEOPLE), taps=tapped)
    apply_receipts_and_clicks(worker)
    expect(page.locator(".campaign-status").first).to_have_text("Completed", timeout=WAIT)  # the page reloads itself
    expect(funnel(page, "delivered")).to_have_text(str(len(PEOPLE)), timeout=WAIT)
    expect(funnel(page, "clicked")).to_have_text(str(tapped), timeout=WAIT)
    wait_for_chart(page, "Clicks", tapped)
    page.reload()
    expect(page.locator("tr.winner th")).to_contain_text(f"{winner} winner")
    expect(state).to_contain_text(f"Winner: variant {winner}. Picked by {marketing_staff} on ")
    click_rates = ", ".join(f"{letter} {row.click_rate}" for letter, row in sorted(in_the_test.items()))
    expect(state).to_contain_text(f"when the test's click rates were {click_rates} and reply rates")  # what she saw
    at_the_end = variant_rows(page)
    loser = next(letter for letter in at_the_end if letter != winner)
    assert at_the_end[winner].recipients == in_the_test[winner].recipients + waiting  # the rest got the winner
    assert at_the_end[loser].recipients == in_the_test[loser].recipients  # and the loser nobody more
    assert sum(row.clicked for row in at_the_end.values()) == tapped
    shot(page, "ab-journey/5-winner")

    # Nobody got two variants, nor anything twice; the rest all got the winner.
    assert Counter(request.form["To"][0] for request in fake_twilio.received) == Counter(PEOPLE)
    messages = OutboundMessage.objects.filter(campaign=campaign)
    assert Counter(messages.values_list("to", flat=True)) == Counter(PEOPLE)
    assert set(messages.values_list("status", flat=True)) == {OutboundMessage.Status.DELIVERED}
    position = {"A": 1, "B": 2}[winner]
    assert Campaign.objects.get(pk=campaign.pk).winner == position
    got = {request.form["To"][0]: request.form["Body"][0] for request in fake_twilio.received}
    opening = {1: "Hi Person", 2: "Person"}  # how each variant's text starts, as sent
    for message in messages:
        assert message.variant == in_test.get(message.to, position)  # a test's variant kept, the rest the winner
        assert message.body == got[message.to] and got[message.to].startswith(opening[message.variant])

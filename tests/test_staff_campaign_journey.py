"""A marketing person's whole campaign in a real browser: build it from a template and a list, check
it, launch it, watch the live progress bar, pause it midway, resume it, and see it complete, with
every recipient getting exactly one message at the loopback Twilio fake. A real RQ worker runs
beside the browser in a thread, as it would on a server. Screenshots go to /tmp/shots/campaign-page/."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import django_rq
import pytest
from django.db import connections
from django.utils import formats, timezone
from playwright.sync_api import expect
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

from campaigns.models import Campaign, MessageTemplate
from tests import test_twilio_support as support
from tests.browser import choose_in_autocomplete, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
twilio_server, fake_twilio, make_twilio_channel = (
    support.twilio_server,
    support.fake_twilio,
    support.make_twilio_channel,
)
NUMBERS = [f"+4479111235{n:02d}" for n in range(40)]  # 20 s at 2 a second: time to pause midway when busy


class ThreadWorker(SimpleWorker):
    """RQ's worker, run in a thread: signals belong to the main thread (the browser's)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


@pytest.fixture
def background_worker():
    """A worker that keeps taking jobs (scheduled ones included) until the test ends."""
    stop = threading.Event()

    def work() -> None:
        queue = django_rq.get_queue("default")
        while not stop.is_set():
            scheduler = RQScheduler([queue], connection=queue.connection)
            scheduler.acquire_locks()
            scheduler.enqueue_scheduled_jobs()
            scheduler.release_locks()
            ThreadWorker([queue], connection=queue.connection).work(burst=True)
            stop.wait(0.2)
        connections.close_all()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def figure(page, name: str) -> int:
    return int(page.locator(f'#campaign-progress [data-field="{name}"]').inner_text().replace(",", ""))


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_build_launch_watch_pause_resume_and_complete_a_campaign(
    page, live_server, fake_twilio, make_twilio_channel, make_contact, make_list, background_worker, administrator
):
    channel = make_twilio_channel(name="Shop SMS", rate_limit=2)  # slow enough to pause midway
    customers = make_list("Customers", [make_contact(phone, f"Person{n} Example") for n, phone in enumerate(NUMBERS)])
    MessageTemplate.objects.create(name="Spring offer", body="Hi {{ first_name }}, 20% off today only!")
    page.on("dialog", lambda dialog: dialog.accept())

    log_in(page, live_server, "maria", "/admin/campaigns/campaign/add/")
    shot(page, "campaign-page/1-new")
    page.fill("#id_name", "Spring sale")
    page.select_option("#id_channel", str(channel.pk))
    page.select_option("#id_template", label="Spring offer")
    choose_in_autocomplete(page, "lists", customers.name)
    page.click("input[name=_continue]")

    page.wait_for_selector("#prelaunch")
    expect(page.locator('[data-figure="audience"]')).to_have_text(str(len(NUMBERS)))
    assert page.locator("#launch-ready").is_visible()
    expect(page.locator(".campaign-status")).to_have_text("Draft")
    shot(page, "campaign-page/2-draft-checked")

    page.click('button[data-verb="launch"]')
    page.wait_for_selector("#campaign-progress")
    page.wait_for_function("() => document.querySelector('.campaign-status')?.textContent.trim() === 'Running'")
    wait_until(lambda: figure(page, "done") >= 3)  # the bar moves without a reload
    shot(page, "campaign-page/3-running")

    page.click('button[data-verb="pause"]')
    page.wait_for_selector('button[data-verb="resume"]')
    campaign = Campaign.objects.get(name="Spring sale")
    wait_until(lambda: not campaign.messages.filter(status="sending").exists(), timeout=10)
    sent_at_pause = len(fake_twilio.received)
    time.sleep(2.5)  # a paused campaign sends nothing more
    assert len(fake_twilio.received) == sent_at_pause < len(NUMBERS)
    page.reload()
    expect(page.locator(".campaign-status").first).to_have_text("Paused")
    shot(page, "campaign-page/4-paused")

    page.click('button[data-verb="resume"]')
    page.wait_for_function(
        "() => document.querySelector('.campaign-status')?.textContent.trim() === 'Completed'", timeout=60_000
    )
    assert figure(page, "done") == figure(page, "total") == len(NUMBERS)
    shot(page, "campaign-page/5-completed")

    received = Counter(request.form["To"][0] for request in fake_twilio.received)
    assert received == Counter(NUMBERS)  # every recipient exactly once: no duplicate, no gap
    assert received[NUMBERS[0]] == 1 and fake_twilio.received[0].form["Body"][0].startswith("Hi Person")

    page.click("a.messages-link")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == len(NUMBERS)
    page.locator("#result_list tbody tr a").first.click()
    # inner_text() reads the element as soon as it is attached, which can be before its text is parsed
    expect(page.locator(".field-recipient_text")).to_contain_text("20% off today only!")
    shot(page, "campaign-page/6-message")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    expect(page.locator("#result_list")).to_contain_text("100%")
    shot(page, "campaign-page/7-list")


def test_schedule_a_campaign_for_a_calendar_day(page, live_server, channel, make_contact, make_list, administrator):
    customers = make_list("Customers", [make_contact(NUMBERS[0], "Ann Example")])
    day = timezone.localdate() + timedelta(days=3)
    log_in(page, live_server, "maria", f"/admin/campaigns/campaign/add/?scheduled_at={day.isoformat()}")
    assert page.input_value("#id_scheduled_at_0") == formats.localize_input(day)
    page.fill("#id_name", "Weekend offer")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("#id_text", "Hi {{ first_name }}, see you at the weekend")
    choose_in_autocomplete(page, "lists", customers.name)
    page.fill("#id_scheduled_at_1", "10:30")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    expect(page.locator(".messagelist")).to_contain_text("is scheduled for")
    expect(page.locator(".campaign-status").first).to_have_text("Scheduled")
    shot(page, "campaign-page/8-scheduled")
    campaign = Campaign.objects.get(name="Weekend offer")
    local = timezone.localtime(campaign.scheduled_at)
    assert (local.date(), local.strftime("%H:%M")) == (day, "10:30")

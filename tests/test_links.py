"""Tracked links (campaigns/links/): short links made at hand-over, the redirect, counting clicks."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns.content import prelaunch
from campaigns.links import CODE_LENGTH, PREVIEW_AGENTS, apply_clicks, count_clicks, urls_in, with_short_links
from campaigns.links.codes import new_code
from campaigns.models import Campaign, LinkClick, OutboundMessage, ShortLink
from providers.sandbox import SandboxProvider

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "https://s.example/l/"


@pytest.fixture(autouse=True)
def short_base(settings):
    settings.SHORT_LINK_BASE_URL = BASE


@pytest.fixture
def sent_texts(monkeypatch):
    texts: list[str] = []
    original = SandboxProvider.send_batch

    def record(self, batch):
        texts.extend(m.text for m in batch)
        return original(self, batch)

    monkeypatch.setattr(SandboxProvider, "send_batch", record)
    return texts


@pytest.fixture
def campaign(channel, make_contact, make_list):
    people = [make_contact("+447911123401", "Ann Smith"), make_contact("+447911123402", "Bob Jones")]
    campaign = Campaign.objects.create(
        name="Spring sale",
        channel=channel,
        text="Hi {{ first_name }}, see https://shop.example/sale?x=1, or (https://shop.example/faq). Bye",
        link_utm="utm_source=sms&utm_campaign=spring",
    )
    campaign.lists.set([make_list("Customers", people)])
    return campaign


def make_link(code: str = "Abc12345", url: str = "https://shop.example/a", **extra) -> ShortLink:
    message = OutboundMessage.objects.create(channel_id=extra.pop("channel_id"), to="+447911123401", body="x")
    now = timezone.now()
    return ShortLink.objects.create(
        code=code,
        message=message,
        campaign_id=extra.pop("campaign_id", 0),
        url=url,
        created_at=now,
        expires_at=extra.pop("expires_at", now + timedelta(days=90)),
    )


# --- codes and rewriting -----------------------------------------------------------------------


def test_codes_are_unguessable_base62_of_the_set_length():
    codes = {new_code() for _ in range(20_000)}
    assert len(codes) == 20_000  # no repeats in a burst
    assert all(len(code) == CODE_LENGTH == 8 and code.isalnum() and code.isascii() for code in codes)
    assert len(set("".join(codes))) == 62  # every base62 character is used: the code space is 62**8


def test_urls_next_to_punctuation_and_several_urls_are_each_shortened_and_others_left():
    text = "Go to https://a.example/x?y=1. Or (http://b.example/z)! Not ftp://c.example nor www.d.example"
    assert [text[s:e] for s, e in urls_in(text)] == ["https://a.example/x?y=1", "http://b.example/z"]
    codes = iter(["AAAAAAAA", "BBBBBBBB"])
    shortened, made = with_short_links(text, lambda: next(codes))
    assert shortened == (f"Go to {BASE}AAAAAAAA. Or ({BASE}BBBBBBBB)! Not ftp://c.example nor www.d.example")
    assert made == [("AAAAAAAA", "https://a.example/x?y=1"), ("BBBBBBBB", "http://b.example/z")]


# --- the hand-over, through a real send --------------------------------------------------------


def test_a_real_send_gives_each_recipient_their_own_short_links(campaign, worker, sent_texts):
    assert campaign.launch()
    worker()

    assert len(sent_texts) == 2
    links = list(ShortLink.objects.order_by("id"))
    assert len(links) == 4 and len({link.code for link in links}) == 4
    for message in campaign.messages.all():
        mine = [link for link in links if link.message_id == message.pk]
        assert [link.url for link in mine] == ["https://shop.example/sale?x=1", "https://shop.example/faq"]
        assert message.body == (
            f"Hi {message.contact.name.split()[0]}, see {BASE}{mine[0].code}, or ({BASE}{mine[1].code}). Bye"
        )
        assert message.body in sent_texts  # what was kept is what went
        assert all(link.campaign_id == campaign.pk for link in mine)
        assert all(link.expires_at - link.created_at == timedelta(days=90) for link in mine)
    assert "shop.example" not in "".join(sent_texts)


def test_a_campaign_with_tracking_off_sends_its_urls_as_written(campaign, worker, sent_texts):
    Campaign.objects.filter(pk=campaign.pk).update(track_links=False)
    campaign.refresh_from_db()
    assert campaign.launch()
    worker()
    assert len(sent_texts) == 2 and all("https://shop.example/sale?x=1" in text for text in sent_texts)
    assert not ShortLink.objects.exists()


# --- the redirect ------------------------------------------------------------------------------


def test_a_click_redirects_with_utm_and_is_counted_first_time_and_count(client, campaign, worker):
    assert campaign.launch()
    worker()
    link = ShortLink.objects.order_by("id").first()

    first = client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0 (iPhone)")
    assert first.status_code == 302
    assert first["Location"] == "https://shop.example/sale?x=1&utm_source=sms&utm_campaign=spring"
    assert "Set-Cookie" not in first.headers and first["Cache-Control"] == "no-store"
    assert LinkClick.objects.count() == 1
    client.get(f"/l/{link.code}")
    assert apply_clicks() == 2
    link.refresh_from_db()
    assert link.click_count == 2 and link.first_click_at is not None
    first_time = link.first_click_at

    client.get(f"/l/{link.code}")
    apply_clicks()
    link.refresh_from_db()
    assert (link.click_count, link.first_click_at) == (3, first_time)  # the first time stays the first
    assert not LinkClick.objects.exists()


@pytest.mark.parametrize(
    "agent", [*PREVIEW_AGENTS, "WhatsApp/2.23.18.78 i", "facebookexternalhit/1.1 Facebot Twitterbot/1.0"]
)
def test_preview_fetchers_get_the_redirect_but_are_not_counted(client, channel, agent):
    link = make_link(channel_id=channel.pk)
    response = client.get(f"/l/{link.code}", HTTP_USER_AGENT=agent)
    assert response.status_code == 302 and response["Location"] == link.url
    assert not LinkClick.objects.exists()


def test_head_gets_the_redirect_but_is_not_counted(client, channel):
    link = make_link(channel_id=channel.pk)
    response = client.head(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    assert response.status_code == 302 and response["Location"] == link.url
    assert not LinkClick.objects.exists()


@pytest.mark.parametrize("code", ["Zzz99999", "Abc1234", "Abc12345x", "Abc-1234", "Abc%2F234", "Abc12345%00"])
def test_unknown_and_odd_codes_get_a_plain_404(client, channel, code):
    make_link(channel_id=channel.pk)
    response = client.get(f"/l/{code}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain") and b"unknown or has expired" in response.content
    assert not LinkClick.objects.exists()


def test_an_expired_link_gets_a_404_and_no_click(client, channel):
    link = make_link(channel_id=channel.pk, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/l/{link.code}").status_code == 404
    assert not LinkClick.objects.exists()


def test_post_is_refused(client, channel):
    link = make_link(channel_id=channel.pk)
    assert client.post(f"/l/{link.code}").status_code == 405
    assert not LinkClick.objects.exists()


# --- counting clicks in batches ----------------------------------------------------------------


@override_settings(CLICK_BATCH_SIZE=3)
def test_a_real_worker_counts_clicks_in_batches(client, channel, worker):
    one, two = make_link("Abc12345", channel_id=channel.pk), make_link("Xyz67890", channel_id=channel.pk)
    for _ in range(5):
        client.get(f"/l/{one.code}")
    client.get(f"/l/{two.code}")
    django_rq.get_queue("default").enqueue(count_clicks)
    worker()
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.click_count, two.click_count) == (5, 1)
    assert one.first_click_at <= two.first_click_at
    assert not LinkClick.objects.exists()


def test_a_redis_flush_loses_no_click(client, channel, worker):
    link = make_link(channel_id=channel.pk)
    for _ in range(4):
        assert client.get(f"/l/{link.code}").status_code == 302
    django_rq.get_queue("default").enqueue(count_clicks)
    django_rq.get_connection("default").flushdb()  # the queued job is gone; the clicks are rows
    worker()
    assert LinkClick.objects.count() == 4
    django_rq.get_queue("default").enqueue(count_clicks)  # the next rqcron tick
    worker()
    link.refresh_from_db()
    assert link.click_count == 4 and not LinkClick.objects.exists()


# --- the pre-launch panel ----------------------------------------------------------------------


def test_the_prelaunch_panel_counts_the_short_links_length(campaign, settings):
    long_url = "https://shop.example/" + "a" * 150
    Campaign.objects.filter(pk=campaign.pk).update(text=f"Hi {{{{ first_name }}}}, see {long_url}")
    campaign.refresh_from_db()
    tracked = prelaunch.report(campaign)
    assert tracked.segments_total == 2  # "Hi Ann, see " + 28 characters of short link: one segment each

    Campaign.objects.filter(pk=campaign.pk).update(track_links=False)
    campaign.refresh_from_db()
    assert prelaunch.report(campaign).segments_total == 4  # the 171-character address: two segments each


LINK_TEXTS = [
    "See https://shop.example/" + "a" * 150,
    "Go to https://a.example/x?y=1. Or (http://b.example/z)! Not ftp://c.example nor www.d.example",
    "Two: HTTPS://A.example/1,https://b.example/2; and http:// alone, then https://c.example/\u00e9t\u00e9?",
    "No link here, only text that stays as it is",
    "Ends with a link https://shop.example/" + "b" * 140 + ")]}",
]


def test_the_browser_counter_and_the_prelaunch_panel_count_links_alike(tmp_path):
    """The campaign form's counter (template_segments.js asSent, under node) gives the same text and
    segments as the pre-launch panel (prelaunch.as_sent, then count_segments), tracked and not."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    from campaigns.content.segments import browser_tables, count_segments

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed; the browser test checks the counter in Chromium")
    script = tmp_path / "run.js"
    script.write_text(
        "const {makeCounter} = require(process.argv[2]);\n"
        "const counter = makeCounter(JSON.parse(process.argv[3]));\n"
        "const texts = JSON.parse(process.argv[4]);\n"
        "console.log(JSON.stringify(texts.map(t => [counter.asSent(t), counter.count(counter.asSent(t)).segments])));\n"
    )
    counter = Path(__file__).resolve().parent.parent / "static/js/template_segments.js"
    run = [node, str(script), str(counter), json.dumps(browser_tables()), json.dumps(LINK_TEXTS)]
    in_browser = json.loads(subprocess.run(run, capture_output=True, text=True, check=True, timeout=30).stdout)
    tracked = Campaign(track_links=True)
    on_server = [
        [prelaunch.as_sent(tracked, t), count_segments(prelaunch.as_sent(tracked, t)).segments] for t in LINK_TEXTS
    ]
    assert in_browser == on_server
    assert [segments for _, segments in on_server] == [1, 1, 1, 1, 1]
    assert on_server[1][0] == f"Go to {BASE}00000000. Or ({BASE}00000000)! Not ftp://c.example nor www.d.example"
    assert count_segments(LINK_TEXTS[0]).segments == 2  # untracked, the address itself is counted


# --- the campaign form -------------------------------------------------------------------------


def test_the_campaign_form_tracks_links_by_default_and_names_a_bad_utm_value(page, live_server, administrator):
    from tests.browser import log_in, shot

    log_in(page, live_server, administrator.username, "/admin/campaigns/campaign/add/")
    assert page.is_checked("#id_track_links")
    page.fill("#id_name", "Spring sale")
    page.fill("#id_text", "See https://shop.example/sale")
    page.fill("#id_link_utm", "utm_source=sms&source=x")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    errors = page.inner_text(".field-link_utm .errorlist")
    assert errors == (
        "UTM parameters: “source=x” in “utm_source=sms&source=x” is not a utm_name=value pair "
        "(e.g. utm_source=sms&utm_campaign=spring)."
    )
    shot(page, "links/campaign_form_utm_error")


def test_the_campaign_forms_counter_counts_a_tracked_link_at_the_short_links_length(page, live_server, administrator):
    from tests.browser import log_in, shot

    log_in(page, live_server, administrator.username, "/admin/campaigns/campaign/add/")
    page.fill("#id_text", "Hi, our sale: https://shop.example/" + "a" * 150 + ". See you")
    counter = page.locator("#id_text + .variant-count")
    assert counter.get_attribute("data-segments") == "1"
    assert counter.inner_text() == "51 characters, 1 segment (GSM-7), links counted as short links"
    shot(page, "links/campaign_form_counter_tracked")
    page.uncheck("#id_track_links")
    assert counter.get_attribute("data-segments") == "2"
    assert counter.inner_text() == "194 characters, 2 segments (GSM-7)"
    shot(page, "links/campaign_form_counter_untracked")

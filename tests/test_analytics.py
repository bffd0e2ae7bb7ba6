"""Campaign analytics (campaigns/analytics/): tallies move exactly once per applied outcome, through
the real send path, receipts (batched and one by one), click folding and reply storing; the funnel
and its rates, failures by error code, results by country and the actual cost read them back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns import variants
from campaigns.analytics import campaign_analytics, country_of, daily, recent_campaigns, series, totals
from campaigns.conversations.store import receive
from campaigns.links import apply_clicks, count_clicks
from campaigns.models import (
    Campaign,
    CampaignBreakdown,
    CampaignBucket,
    CampaignVariant,
    HourlyOutcomes,
    LinkClick,
    OutboundMessage,
    ShortLink,
)
from campaigns.pipeline.receipts import apply_receipt
from campaigns.pipeline.unknown_outcomes import mark_failed, mark_sent
from campaigns.receiving.receipts import apply_receipts
from contacts.models import Suppression
from providers.base import Outcome
from providers.events import DeliveryState, InboundEvent, ReceiptEvent, take
from providers.sandbox import deliver
from tests.browser import log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)
ANN, BOB, CHLOE = "+447911123401", "+254712345678", "+14165550123"


@pytest.fixture(autouse=True)
def short_base(settings):
    settings.SHORT_LINK_BASE_URL = "https://s.example/l/"


@pytest.fixture
def campaign(channel, make_contact, make_list):
    channel.price_per_segment, channel.currency = Decimal("0.0500"), "USD"
    channel.save()
    people = [make_contact(ANN, "Ann Smith"), make_contact(BOB, "Bob Otieno"), make_contact(CHLOE, "Chloe Roy")]
    campaign = Campaign.objects.create(
        name="Spring sale", channel=channel, text="Hi {{ first_name }}, see https://shop.example/sale"
    )
    campaign.lists.set([make_list("Customers", people)])
    return campaign


def sent_campaign(campaign, worker) -> dict[str, OutboundMessage]:
    assert campaign.launch()
    worker()
    campaign.refresh_from_db()
    assert campaign.messages.exists(), (campaign.status, campaign.status_reason)
    return {message.to: message for message in campaign.messages.all()}


def receipt(message, state, code="", text="", **more) -> ReceiptEvent:
    return ReceiptEvent(
        message.channel_id,
        message.provider_message_id,
        DeliveryState(state),
        error_code=code,
        error_message=text,
        **more,
    )


def test_a_real_send_counts_each_message_sent_once_with_its_segments_and_country(campaign, worker):
    messages = sent_campaign(campaign, worker)
    assert {m.status for m in messages.values()} == {"sent"}

    counts = totals(campaign.pk)
    assert (counts["sent"], counts["delivered"], counts["failed"], counts["segments"]) == (3, 0, 0, 3)
    by_country = {row["code"]: row["sent"] for row in campaign_analytics(campaign)["countries"]}
    assert by_country == {country_of(ANN): 1, "KE": 1, "CA": 1}
    worker()  # nothing left to do: nothing counted again
    assert totals(campaign.pk)["sent"] == 3
    # The dashboard's hours hold the same, beside the campaign's 5-minute buckets.
    assert sum(HourlyOutcomes.objects.values_list("sent", flat=True)) == 3


def test_receipts_count_once_however_often_they_come_batched_or_one_by_one(campaign, worker):
    messages = sent_campaign(campaign, worker)
    ann, bob = messages[ANN], messages[BOB]
    batch = [
        receipt(ann, "delivered"),
        receipt(ann, "delivered"),  # the provider's retry, in the same batch
        receipt(bob, "undelivered", "30003", "Unreachable destination handset."),
    ]
    apply_receipts(batch)
    apply_receipts(batch)  # the whole batch again: moves nothing, counts nothing
    assert not apply_receipt(receipt(ann, "delivered"))  # and one by one
    assert not apply_receipt(receipt(bob, "undelivered", "30003"))
    apply_receipts([receipt(ann, "read")])  # read after delivered: delivered once

    counts = totals(campaign.pk)
    assert (counts["sent"], counts["delivered"], counts["failed"]) == (3, 1, 1)
    found = campaign_analytics(campaign)
    assert found["failures"] == [{"code": "30003", "meaning": "Unreachable destination handset.", "count": 1}]
    kenya = next(row for row in found["countries"] if row["code"] == "KE")
    assert (kenya["sent"], kenya["delivered"], kenya["failed"]) == (1, 0, 1)


def test_a_single_receipt_counts_and_a_late_delivery_takes_the_failure_back(campaign, worker):
    messages = sent_campaign(campaign, worker)
    chloe = messages[CHLOE]
    assert apply_receipt(receipt(chloe, "failed", "30008", "Unknown error."))
    assert totals(campaign.pk)["failed"] == 1
    assert apply_receipt(receipt(chloe, "delivered"))
    counts = totals(campaign.pk)
    assert (counts["delivered"], counts["failed"]) == (1, 0)
    assert campaign_analytics(campaign)["failures"] == []


def as_the_messages_say(campaign) -> tuple[int, int, int]:
    """Sent (a provider took it: sent_at set), delivered and failed, counted from the message rows."""
    rows = campaign.messages.all()
    return (
        rows.filter(sent_at__isnull=False).count(),
        rows.filter(status__in=["delivered", "read"]).count(),
        rows.filter(status__in=["failed", "undelivered"]).count(),
    )


def test_a_failure_at_sending_a_provider_later_delivers_is_counted_sent_once_as_the_messages_say(
    campaign, worker, scripted
):
    campaign.channel.provider, campaign.channel.credentials = "scripted", {"token": "t"}
    campaign.channel.save()
    for position in (1, 2):
        CampaignVariant.objects.create(campaign=campaign, position=position, share=50, text=f"Offer {position}")
    failed = {"outcome": Outcome.FAILED, "error_code": "30008", "error_message": "Unknown error."}
    scripted.answers.extend([failed, dict(failed), Outcome.ACCEPTED])
    messages = list(sent_campaign(campaign, worker).values())
    first, second = [m for m in messages if m.status == "failed"]
    taken = next(m for m in messages if m.status == "sent")
    assert totals(campaign.pk)["sent"] == 1 and as_the_messages_say(campaign) == (1, 0, 2)

    # The provider's late delivery reports after the errors it answered: one by one, and batched twice.
    assert apply_receipt(ReceiptEvent(first.channel_id, "", DeliveryState.DELIVERED, message_id=first.pk))
    late = [ReceiptEvent(second.channel_id, "SM2", DeliveryState.DELIVERED, message_id=second.pk)]
    apply_receipts(late)
    apply_receipts(late)
    # Callbacks out of order for the one it took: failed, then delivered.
    apply_receipts([receipt(taken, "failed", "30003", "Unreachable."), receipt(taken, "delivered")])

    counts = totals(campaign.pk)
    assert (counts["sent"], counts["delivered"], counts["failed"], counts["segments"]) == (3, 3, 0, 3)
    assert as_the_messages_say(campaign) == (3, 3, 0)
    assert campaign_analytics(campaign)["failures"] == []
    assert sum(row["sent"] for row in campaign_analytics(campaign)["countries"]) == 3
    assert sum(figures[2] for figures in figures_by_variant(campaign).values()) == 3  # each went once


def test_a_provider_refusing_an_unsubscribed_recipient_counts_a_failure_and_an_opt_out(campaign, worker, scripted):
    campaign.channel.provider, campaign.channel.credentials = "scripted", {"token": "t"}
    campaign.channel.save()
    for position in (1, 2):
        CampaignVariant.objects.create(campaign=campaign, position=position, share=50, text=f"Offer {position}")
    unsubscribed = {"outcome": Outcome.FAILED, "error_code": "21610", "error_message": "Unsubscribed recipient"}
    scripted.answers.extend([{**unsubscribed, "opted_out": True}, Outcome.ACCEPTED, Outcome.ACCEPTED])
    messages = list(sent_campaign(campaign, worker).values())  # Twilio's 21610 at sending
    refused = next(m for m in messages if m.status == "failed")
    later = next(m for m in messages if m.status == "sent")
    # And in a status callback (providers/twilio/webhooks.py), taken twice, applied by the receiving worker.
    callback = ReceiptEvent(
        later.channel_id,
        later.provider_message_id,
        DeliveryState.FAILED,
        error_code="21610",
        error_message="Unsubscribed recipient",
        recipient=later.to,
        opt_out_reason="Twilio reported the recipient unsubscribed (21610).",
    )
    take([callback, callback])
    worker()

    assert Suppression.numbers_among({refused.to, later.to}) == {refused.to, later.to}
    counts = totals(campaign.pk)
    assert (counts["sent"], counts["failed"], counts["opt_outs"]) == (2, 2, 2)
    steps = {step.key: step.number for step in campaign_analytics(campaign)["funnel"]}
    assert steps["opted_out"] == 2
    assert campaign_analytics(campaign)["failures"][0]["count"] == 2  # a failure still, under its code
    assert sum(row["opted_out"] for row in campaign_analytics(campaign)["countries"]) == 2
    assert sum(figures[6] for figures in figures_by_variant(campaign).values()) == 2


def test_the_sandbox_receipts_through_the_receiving_worker_count_each_delivery_once(campaign, worker):
    messages = sent_campaign(campaign, worker)
    ids = [m.provider_message_id for m in messages.values()]
    deliver(campaign.channel_id, ids)
    deliver(campaign.channel_id, ids)  # reported twice
    worker()
    assert OutboundMessage.objects.filter(campaign=campaign, status="delivered").count() == 3
    assert totals(campaign.pk)["delivered"] == 3


def test_clicks_count_every_click_and_each_recipient_once(campaign, worker, client):
    sent_campaign(campaign, worker)
    ann_link, bob_link = (ShortLink.objects.get(message__to=n) for n in (ANN, BOB))
    for _ in range(3):
        client.get(f"/l/{ann_link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    client.get(f"/l/{bob_link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    assert apply_clicks() == 4
    assert apply_clicks() == 0  # folded once
    client.get(f"/l/{ann_link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    apply_clicks()

    counts = totals(campaign.pk)
    assert (counts["clicks"], counts["unique_clicks"]) == (5, 2)
    assert sum(row["clicked"] for row in campaign_analytics(campaign)["countries"]) == 2


def test_two_click_jobs_at_once_count_a_recipients_first_click_once(campaign, worker, client):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent click jobs: SQLite has one writer at a time and no SKIP LOCKED")
    sent_campaign(campaign, worker)
    link = ShortLink.objects.get(message__to=ANN)
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    applied, release = threading.Event(), threading.Event()

    def first_job() -> None:  # applies the first click and holds its transaction open a moment
        try:
            with transaction.atomic():
                apply_clicks()
                applied.set()
                release.wait(30)
        finally:
            connection.close()

    def second_job() -> None:
        try:
            count_clicks()
        finally:
            connection.close()

    first = threading.Thread(target=first_job)
    first.start()
    assert applied.wait(30)
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")  # the second click, for another job
    second = threading.Thread(target=second_job)
    second.start()
    time.sleep(1)  # the second job reads the link while the first has not committed
    release.set()
    first.join(30)
    second.join(30)

    link.refresh_from_db()
    assert link.click_count == 2 and not LinkClick.objects.exists()
    counts = totals(campaign.pk)
    assert (counts["clicks"], counts["unique_clicks"]) == (2, 1)


def test_replies_count_once_with_first_repliers_and_opt_outs(campaign, worker):
    messages = sent_campaign(campaign, worker)
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages.values()]).update(status="delivered")
    channel_id = campaign.channel_id
    events = [
        InboundEvent(channel_id, ANN, "When does it start?", provider_message_id="R1"),
        InboundEvent(channel_id, ANN, "And where?", provider_message_id="R2"),
        InboundEvent(channel_id, BOB, "STOP", provider_message_id="R3"),
    ]
    receive(events)
    receive(events)  # the provider's retries: stored once, counted once
    receive([InboundEvent(channel_id, ANN, "Thanks", provider_message_id="R4")])

    counts = totals(campaign.pk)
    assert (counts["replies"], counts["repliers"], counts["opt_outs"]) == (4, 2, 1)


def figures_by_variant(campaign) -> dict[int, tuple[int, ...]]:
    found = variants.results(campaign).variants
    return {
        v.position: (v.recipients, v.waiting, v.sent, v.delivered, v.clicked, v.replied, v.opted_out) for v in found
    }


def test_variant_tallies_count_each_outcome_once_and_equal_the_counts_of_the_messages(campaign, worker, client):
    for position in (1, 2):
        CampaignVariant.objects.create(
            campaign=campaign, position=position, share=50, text=f"Offer {position}: https://shop.example/sale"
        )
    messages = sent_campaign(campaign, worker)
    ann, bob, chloe = messages[ANN], messages[BOB], messages[CHLOE]
    assert {m.variant for m in messages.values()} <= {1, 2} and None not in {m.variant for m in messages.values()}
    batch = [receipt(ann, "delivered"), receipt(ann, "delivered"), receipt(bob, "undelivered", "30003", "Unreachable.")]
    apply_receipts(batch)
    apply_receipts(batch)  # the provider's retries: move nothing, count nothing
    assert apply_receipt(receipt(chloe, "delivered"))
    assert not apply_receipt(receipt(chloe, "delivered"))
    link = ShortLink.objects.get(message=ann)
    for _ in range(3):
        client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    assert apply_clicks() == 3
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")  # a click on another day: not a new clicker
    apply_clicks()
    replies = [
        InboundEvent(campaign.channel_id, ANN, "When?", provider_message_id="R1"),
        InboundEvent(campaign.channel_id, ANN, "Where?", provider_message_id="R2"),
        InboundEvent(campaign.channel_id, BOB, "STOP", provider_message_id="R3"),
    ]
    receive(replies)
    receive(replies)  # retried: stored once, counted once

    tallied = figures_by_variant(campaign)
    rows = CampaignBreakdown.objects.filter(campaign_id=campaign.pk, kind=CampaignBreakdown.Kind.VARIANT)
    assert rows.exists()
    # All variants together: 3 went, 2 delivered, 1 clicker, 2 repliers (Ann twice), 1 opt-out.
    added = [sum(figures[n] for figures in tallied.values()) for n in range(7)]
    assert added == [3, 0, 3, 2, 1, 2, 1]
    clickers, repliers = Counter([ann.variant]), Counter([ann.variant, bob.variant])
    assert {p: (f[4], f[5], f[6]) for p, f in tallied.items()} == {
        p: (clickers[p], repliers[p], int(p == bob.variant)) for p in tallied
    }
    rows.delete()  # as a campaign sent before the tallies by variant: counted from its rows
    assert figures_by_variant(campaign) == tallied


def test_a_recipient_who_says_stop_twice_opted_out_once_in_the_funnel_and_their_variant(campaign, worker):
    for position in (1, 2):
        CampaignVariant.objects.create(campaign=campaign, position=position, share=50, text=f"Offer {position}")
    messages = sent_campaign(campaign, worker)
    apply_receipts([receipt(message, "delivered") for message in messages.values()])
    channel_id = campaign.channel_id
    receive(
        [
            InboundEvent(channel_id, BOB, "STOP", provider_message_id="R1"),
            InboundEvent(channel_id, BOB, "stop", provider_message_id="R2"),  # in the same batch
        ]
    )
    receive([InboundEvent(channel_id, BOB, "UNSUBSCRIBE", provider_message_id="R3")])  # and in a later one

    assert totals(campaign.pk)["opt_outs"] == 1
    steps = {step.key: step.number for step in campaign_analytics(campaign)["funnel"]}
    assert steps["opted_out"] == 1
    tallied = figures_by_variant(campaign)
    assert {p: f[6] for p, f in tallied.items()} == {p: int(p == messages[BOB].variant) for p in tallied}
    CampaignBreakdown.objects.filter(campaign_id=campaign.pk, kind=CampaignBreakdown.Kind.VARIANT).delete()
    assert figures_by_variant(campaign) == tallied  # as counted from the rows


def test_the_funnel_gives_each_step_its_rate(campaign, worker, client):
    messages = sent_campaign(campaign, worker)
    apply_receipts([receipt(messages[ANN], "delivered"), receipt(messages[BOB], "delivered")])
    link = ShortLink.objects.get(message__to=ANN)
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    apply_clicks()
    receive([InboundEvent(campaign.channel_id, BOB, "STOP", provider_message_id="R9")])
    campaign.refresh_from_db()

    steps = {step.key: (step.number, step.rate_text) for step in campaign_analytics(campaign)["funnel"]}
    assert steps == {
        "audience": (3, "—"),
        "sent": (3, "100.0%"),
        "delivered": (2, "66.7%"),
        "clicked": (1, "50.0%"),
        "clicks": (2, "100.0%"),
        "replied": (1, "50.0%"),
        "opted_out": (1, "50.0%"),
    }
    cost = campaign_analytics(campaign)["cost"]
    assert cost["segments"] == 3 and cost["costs"] == [{"currency": "USD", "amount": Decimal("0.15")}]
    assert recent_campaigns()[0]["counts"]["sent"] == 3


def test_the_chart_rolls_five_minute_buckets_up_to_hours_and_days_in_the_viewers_zone():
    start = datetime(2026, 3, 28, 23, 55, tzinfo=UTC)
    for minutes, sent in ((0, 2), (5, 3), (65, 4)):
        CampaignBucket.objects.create(campaign_id=7, channel_id=1, start=start + timedelta(minutes=minutes), sent=sent)
    five = series(7, "5min", ZoneInfo("UTC"))
    assert five["labels"][:2] == ["28 Mar 23:55", "29 Mar 00:00"] and len(five["labels"]) == 14
    assert five["datasets"]["sent"][:3] == [2, 3, 0]  # an empty bucket is a zero, not skipped
    hours = series(7, "hour", ZoneInfo("UTC"))
    assert hours["datasets"]["sent"] == [2, 3, 4]
    # In Nairobi (UTC+3) all of it falls on the 29th.
    days = series(7, "day", ZoneInfo("Africa/Nairobi"))
    assert (days["labels"], days["datasets"]["sent"]) == (["Sun 29 Mar"], [9])


def test_the_dashboard_days_add_up_hours_in_the_viewers_zone_with_cost(channel):
    channel.price_per_segment, channel.currency = Decimal("0.0100"), "EUR"
    channel.save()
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    HourlyOutcomes.objects.create(
        hour=now - timedelta(hours=1), channel_id=channel.pk, sent=10, delivered=9, segments=20
    )
    HourlyOutcomes.objects.create(hour=now - timedelta(days=1), channel_id=channel.pk, sent=4, delivered=2, clicks=1)
    HourlyOutcomes.objects.create(hour=now - timedelta(days=9), channel_id=channel.pk, sent=100)  # outside 7 days
    found = daily(7, ZoneInfo("Europe/Paris"), now=now)
    assert found["labels"][-1] == "Wed 10 Jun" and len(found["labels"]) == 7
    assert found["figures"]["sent"][-2:] == [4, 10] and sum(found["figures"]["sent"]) == 14
    assert found["figures"]["delivery_rate"][-2:] == [50.0, 90.0]
    assert found["cost"] == {"EUR": [0, 0, 0, 0, 0, 0, 0.2]}


def test_country_of_a_number():
    assert [country_of(n) for n in (BOB, CHLOE, "+12125550123", "+4915112345678", "+999", "")] == [
        "KE",
        "CA",
        "US",
        "DE",
        "ZZ",
        "ZZ",
    ]
    assert country_of("+447700900123") == "GB"  # a fictional range: the calling code's main country
    assert timezone.now()


# --- the page ----------------------------------------------------------------------------------


def filled_campaign(campaign, worker, client) -> Campaign:
    messages = sent_campaign(campaign, worker)
    apply_receipts(
        [
            receipt(messages[ANN], "delivered"),
            receipt(messages[CHLOE], "delivered"),
            receipt(messages[BOB], "undelivered", "30003", "Unreachable destination handset."),
        ]
    )
    link = ShortLink.objects.get(message__to=ANN)
    for _ in range(2):
        client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    apply_clicks()
    receive([InboundEvent(campaign.channel_id, CHLOE, "STOP", provider_message_id="R1")])
    campaign.refresh_from_db()
    return campaign


def test_the_page_shows_funnel_failures_countries_cost_and_exports_them(campaign, worker, client, administrator):
    filled_campaign(campaign, worker, client)
    client.force_login(administrator)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/?step=hour").content.decode()
    assert 'id="campaign-analytics"' in page and "vendor/chartjs/chart.umd.min.js" in page
    assert 'data-figure="delivered">2<' in page and 'data-rate="clicked">50.0%<' in page
    assert "Unreachable destination handset." in page and ">Kenya<" in page and "0.15 USD" in page
    assert 'class="current" aria-current="true">Hours<' in page
    # One word, one meaning: the progress panel's Sent have no receipt yet, the funnel's are all the provider took.
    assert '<span class="swatch bar-sent"></span>Sent, awaiting receipt <strong' in page
    assert '<span class="funnel-label">Sent</span>' in page
    assert "all the provider took: delivered, failed or awaiting receipt" in page

    export = client.get(f"/admin/campaigns/campaign/{campaign.pk}/analytics.csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    text = b"".join(export.streaming_content).decode()
    assert "funnel,Delivered,count,2" in text and "failures by error code,30003,messages,1" in text
    assert "cost,actual cost,USD,0.15" in text and "by country,Kenya (KE),failed,1" in text


def test_a_person_sees_the_funnel_and_the_chart_drawn_in_their_time_zone(
    campaign, worker, client, page, live_server, nairobi_staff
):
    filled_campaign(campaign, worker, client)
    log_in(page, live_server, "amina", f"/admin/campaigns/campaign/{campaign.pk}/change/")
    page.wait_for_selector("#analytics-chart[data-drawn=true]")
    assert page.evaluate("() => typeof window.Chart") == "function"
    assert page.inner_text("[data-figure=sent]") == "3"
    assert page.inner_text("[data-rate=delivered]") == "66.7%"
    assert "Africa/Nairobi" in page.inner_text(".chart-steps")
    assert (
        page.evaluate(
            "() => document.getElementById('analytics-chart').chart.data.datasets[0].data.reduce((a, b) => a + b)"
        )
        == 3
    )
    page.locator("#campaign-analytics").scroll_into_view_if_needed()
    shot(page, "campaign-analytics")

    # More clicks come after the end: the funnel and the chart follow without a reload.
    link = ShortLink.objects.get(message__to=CHLOE)
    client.get(f"/l/{link.code}", HTTP_USER_AGENT="Mozilla/5.0")
    apply_clicks()
    page.wait_for_function("() => document.querySelector('[data-figure=clicked]').textContent === '2'")
    assert page.inner_text("[data-rate=clicked]") == "100.0%"
    clicks = "() => document.getElementById('analytics-chart').chart.data.datasets[3].data.reduce((a, b) => a + b)"
    page.wait_for_function(f"{clicks} === 3")


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_charts_the_last_7_and_30_days_and_compares_campaigns(
    campaign, worker, client, page, live_server, nairobi_staff
):
    filled_campaign(campaign, worker, client)
    now = timezone.now()
    for days_ago, sent in ((3, 40), (12, 100)):
        HourlyOutcomes.objects.create(
            hour=(now - timedelta(days=days_ago)).replace(minute=0, second=0, microsecond=0),
            channel_id=campaign.channel_id,
            sent=sent,
            delivered=sent // 2,
            clicks=5,
            replies=2,
            opt_outs=1,
            segments=sent,
        )
    log_in(page, live_server, "amina")
    page.wait_for_selector("#trend-activity[data-drawn=true]")
    assert page.inner_text("#trend-sent") == "43"  # today's 3 and 40 three days ago; not 12 days ago
    # The delivery rate is a gap on a day without sends, not a 0, and its points are drawn over the bars.
    drawn = page.evaluate(
        """() => { const chart = document.getElementById('trend-activity').chart;
        return { rate: chart.data.datasets[1].data,
                 bottom: chart.getSortedVisibleDatasetMetas().at(-1).type }; }"""
    )
    assert drawn["rate"] == [None, None, None, 50.0, None, None, 66.7] and drawn["bottom"] == "bar"
    assert "Africa/Nairobi" in page.inner_text("#dashboard-trends h2")
    assert "Spring sale" in page.inner_text("#dashboard-compare")
    assert "66.7%" in page.inner_text(f"#dashboard-compare tr[data-campaign='{campaign.pk}']")
    page.click("#dashboard-trends a:has-text('30 days')")
    page.wait_for_selector("#trend-activity[data-drawn=true]")
    assert page.inner_text("#trend-sent") == "143" and page.inner_text("#trend-cost") == "7.15 USD"
    assert page.evaluate("() => document.getElementById('trend-activity').chart.data.labels.length") == 30
    page.locator("#dashboard-trends").scroll_into_view_if_needed()
    shot(page, "dashboard-trends")


def test_the_results_export_has_each_recipients_clicks_and_first_click(campaign, worker, client, administrator):
    filled_campaign(campaign, worker, client)
    client.force_login(administrator)
    export = client.get(f"/admin/campaigns/campaign/{campaign.pk}/results.csv")
    header, *lines = b"".join(export.streaming_content).decode("utf-8-sig").strip().splitlines()
    columns = header.split(",")
    clicks = columns.index("clicks")
    assert columns[clicks + 1].startswith("first click at (")
    by_number = {line.split(",")[0]: line.split(",") for line in lines}
    assert by_number[ANN][clicks] == "2" and by_number[ANN][clicks + 1]
    assert by_number[BOB][clicks] == "0" and by_number[BOB][clicks + 1] == ""


def test_a_person_deciding_unknown_outcomes_counts_them_once(campaign, worker):
    messages = sent_campaign(campaign, worker)
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages.values()]).update(status="unknown")
    CampaignBucket.objects.all().delete()  # as if they had gone unknown at sending (counted nothing)
    ann, bob = messages[ANN].pk, messages[BOB].pk
    assert mark_sent([ann], by="maria").changed == 1
    assert mark_sent([ann], by="maria").changed == 0  # decided already: nothing moves, nothing counted
    assert mark_failed([bob], by="maria", reason="The provider has no trace of it").changed == 1
    counts = totals(campaign.pk)
    assert (counts["sent"], counts["failed"], counts["segments"]) == (1, 1, 1)
    assert campaign_analytics(campaign)["failures"][0]["code"] == "marked_failed"


def test_a_step_or_period_that_is_not_one_is_refused_naming_the_field_and_value(campaign, client, administrator):
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(status="completed", started_at=now, fanned_out_at=now)
    client.force_login(administrator)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/?step=week").content.decode()
    assert "Step: &#x27;week&#x27; is not one of 5min, hour, day." in page  # (the admin's messages capitalise)
    answer = client.get(f"/admin/campaigns/campaign/{campaign.pk}/analytics.json?step=%3Cb%3E")
    assert answer.status_code == 400 and answer.json() == {"error": "step: '<b>' is not one of 5min, hour, day."}
    export = client.get(f"/admin/campaigns/campaign/{campaign.pk}/analytics.csv?step=week")
    assert export.status_code == 400 and b"step: 'week'" in export.content
    dashboard = client.get("/admin/?days=365").content.decode()
    assert "Days: &#x27;365&#x27; is not 7 or 30; the last 7 days are shown." in dashboard
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/analytics.json?step=day").status_code == 200

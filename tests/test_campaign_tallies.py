"""The campaign list never counts millions of messages while staff wait: it counts its small campaigns
as it is shown, and shows the big ones' tallies, which a worker counts again when they are stale."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, CampaignTally, OutboundMessage
from campaigns.reports import tallies

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "/admin/campaigns/campaign/"
Status = OutboundMessage.Status


def sent_campaign(channel, name: str, statuses: list[str], **fields) -> Campaign:
    """A running campaign fanned out into one message per status given."""
    now = timezone.now()
    fields = {"started_at": now, "fanned_out_at": now, "recipient_count": len(statuses), **fields}
    campaign = Campaign.objects.create(name=name, channel=channel, text="Hi", status=Campaign.Status.RUNNING, **fields)
    for n, status in enumerate(statuses):
        to = f"+44791112{n:04d}"
        OutboundMessage.objects.create(campaign=campaign, channel=channel, to=to, recipient_key=to, status=status)
    return campaign


def counted_campaigns(queries) -> list[str]:
    """The grouped counts of messages the request ran."""
    table = OutboundMessage._meta.db_table
    return [q["sql"] for q in queries if table in q["sql"] and "GROUP BY" in q["sql"]]


def progress_cell(html: str, campaign: Campaign) -> str:
    row = html[html.index(f"/admin/campaigns/campaign/{campaign.pk}/change/") :]
    return row[row.index('class="field-progress_bar"') :][:600]


@pytest.fixture
def all_big(monkeypatch):
    """Every campaign too big to count in the request."""
    monkeypatch.setattr(tallies, "COUNT_IN_REQUEST_UP_TO", 0)


def test_small_campaigns_are_counted_as_the_list_is_shown(staff, channel):
    campaign = sent_campaign(channel, "Spring", [Status.DELIVERED, Status.DELIVERED, Status.FAILED, Status.QUEUED])
    html = staff.get(LIST).content.decode()
    assert "75%" in progress_cell(html, campaign) and "of 4" in progress_cell(html, campaign)
    assert "67%" in html  # delivered among those that went
    campaign.messages.filter(status=Status.QUEUED).update(status=Status.DELIVERED)
    assert "100%" in progress_cell(staff.get(LIST).content.decode(), campaign)
    assert not CampaignTally.objects.exists()


def test_a_big_campaigns_fresh_tally_is_shown_without_counting(staff, channel, worker, all_big):
    campaign = sent_campaign(channel, "Spring", [Status.QUEUED, Status.QUEUED])
    assert "counting…" in progress_cell(staff.get(LIST).content.decode(), campaign)
    worker()
    assert CampaignTally.objects.get(campaign=campaign).counts == {"queued": 2}
    campaign.messages.update(status=Status.SENT)
    with CaptureQueriesContext(connection) as queries:
        html = staff.get(LIST).content.decode()
    assert counted_campaigns(queries) == []
    assert "0%" in progress_cell(html, campaign)  # as counted a moment ago
    assert len(django_rq.get_queue("high")) == 0


def test_a_stale_tally_is_shown_and_a_worker_counts_it_again(staff, channel, worker, all_big):
    campaign = sent_campaign(channel, "Spring", [Status.QUEUED, Status.QUEUED])
    staff.get(LIST)
    worker()
    campaign.messages.update(status=Status.DELIVERED)
    old = timezone.now() - tallies.LIVE_MAX_AGE - timedelta(seconds=1)
    CampaignTally.objects.filter(campaign=campaign).update(counted_at=old)
    with CaptureQueriesContext(connection) as queries:
        html = staff.get(LIST).content.decode()
    assert counted_campaigns(queries) == []  # the page did not count: it asked
    assert "0%" in progress_cell(html, campaign)
    staff.get(LIST)  # asked already: not asked twice
    assert len(django_rq.get_queue("high")) == 1
    worker()
    assert CampaignTally.objects.get(campaign=campaign).counts == {"delivered": 2}
    assert "100%" in progress_cell(staff.get(LIST).content.decode(), campaign)


def test_a_big_campaign_never_counted_is_left_to_a_worker(staff, channel, worker, monkeypatch):
    monkeypatch.setattr(tallies, "COUNT_IN_REQUEST_UP_TO", 3)
    small = sent_campaign(channel, "Small", [Status.SENT, Status.SENT])
    big = sent_campaign(channel, "Big", [Status.SENT] * 4)
    with CaptureQueriesContext(connection) as queries:
        html = staff.get(LIST).content.decode()
    counts = counted_campaigns(queries)
    assert len(counts) == 1 and f"({small.pk})" in counts[0]
    assert "counting…" in progress_cell(html, big) and "counting…" not in progress_cell(html, small)
    worker()
    html = staff.get(LIST).content.decode()
    assert "of 4" in progress_cell(html, big)


def test_a_campaign_still_fanning_out_is_never_counted_in_the_request(channel):
    campaign = sent_campaign(channel, "Filling", [Status.QUEUED], fanned_out_at=None)
    assert tallies.expected_size(campaign) > tallies.COUNT_IN_REQUEST_UP_TO
    assert tallies.status_counts([campaign]) == {campaign.pk: None}


def test_a_tally_may_be_older_the_more_settled_its_campaign_is(channel):
    now = timezone.now()
    running = Campaign(status=Campaign.Status.RUNNING)
    paused = Campaign(status=Campaign.Status.PAUSED)
    just_done = Campaign(status=Campaign.Status.COMPLETED, finished_at=now - timedelta(days=1))
    long_done = Campaign(status=Campaign.Status.CANCELLED, finished_at=now - timedelta(days=30))
    ages = [tallies.max_age(campaign, now) for campaign in (running, paused, just_done, long_done)]
    assert ages == [tallies.LIVE_MAX_AGE, tallies.LIVE_MAX_AGE, tallies.SETTLING_MAX_AGE, tallies.SETTLED_MAX_AGE]
    draft = Campaign.objects.create(name="Draft", channel=channel, text="Hi")
    assert tallies.status_counts([draft]) == {draft.pk: {}}  # nothing to count: no tally either
    assert not CampaignTally.objects.exists()

"""The admin index dashboard: today's figures in the staff zone, what runs, what is coming, what needs a person."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.admin.dashboard import first_id_since
from campaigns.models import Campaign, OutboundMessage
from providers.events import DeliveryState, ReceiptEvent, take
from providers.models import ReceivedEvent
from tests.browser import log_in, shot

Status = OutboundMessage.Status
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, nairobi_staff):
    client.force_login(nairobi_staff)
    return client


def black_friday(channel, now: datetime) -> Campaign:
    """A campaign running since ``now`` to four recipients."""
    return Campaign.objects.create(
        name="Black Friday",
        channel=channel,
        status=Campaign.Status.RUNNING,
        started_at=now,
        fanned_out_at=now,
        recipient_count=4,
    )


def add_messages(channel, statuses: list[str], created_at: datetime | None = None, campaign=None) -> list[int]:
    rows = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            channel=channel,
            to=f"+2547{len(statuses)}{i:07d}",
            status=status,
            campaign=campaign,
            recipient_key=f"k{i}" if campaign else "",
        )
        for i, status in enumerate(statuses)
    )
    ids = [row.pk for row in rows]
    if created_at is not None:
        OutboundMessage.objects.filter(pk__in=ids).update(created_at=created_at)
    return ids


def midnight_in_nairobi() -> datetime:
    return timezone.now().astimezone(NAIROBI).replace(hour=0, minute=0, second=0, microsecond=0)


def figure(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[page.index(">", start) + 1 : page.index("</dd>", start)].strip()


def test_todays_figures_count_only_messages_since_midnight_in_the_staff_zone(staff, channel):
    add_messages(
        channel, [Status.DELIVERED] * 5 + [Status.FAILED] * 5, created_at=midnight_in_nairobi() - timedelta(minutes=1)
    )
    add_messages(
        channel,
        [Status.DELIVERED] * 6
        + [Status.READ] * 3
        + [Status.UNDELIVERED]
        + [Status.SENT] * 2
        + [Status.FAILED] * 2
        + [Status.QUEUED] * 4
        + [Status.SCHEDULED],
        created_at=midnight_in_nairobi() + timedelta(minutes=1),
    )
    page = staff.get("/admin/").content.decode()
    assert figure(page, "today-sent") == "12"  # sent 2 + delivered 6 + read 3 + undelivered 1
    assert 'href="/admin/campaigns/outboundmessage/?status__exact=failed">2<' in page
    assert figure(page, "today-waiting") == "5"
    assert figure(page, "today-delivery-rate") == "75%"  # 9 delivered of 12 with a final outcome
    assert "since 00:00" in page
    assert 'id="content-main"' in page and "Contact lists" in page  # the app list stays below


def test_the_first_message_of_the_day_is_found_across_gaps_in_the_ids(channel):
    early = add_messages(channel, [Status.SENT] * 40, created_at=midnight_in_nairobi() - timedelta(hours=2))
    late = add_messages(channel, [Status.SENT] * 25, created_at=midnight_in_nairobi() + timedelta(hours=1))
    OutboundMessage.objects.filter(pk__in=early[30:] + late[:5]).delete()
    assert first_id_since(midnight_in_nairobi()) == late[5]
    assert first_id_since(midnight_in_nairobi() + timedelta(days=1)) is None
    assert first_id_since(midnight_in_nairobi() - timedelta(days=1)) == early[0]


def test_the_dashboard_costs_the_same_few_queries_however_many_messages(staff, channel, django_assert_max_num_queries):
    add_messages(channel, [Status.SENT] * 50, created_at=midnight_in_nairobi() - timedelta(days=1))
    add_messages(channel, [Status.DELIVERED] * 50)
    with django_assert_max_num_queries(40):
        assert staff.get("/admin/").status_code == 200


def test_running_upcoming_and_attention_link_to_their_pages(staff, channel):
    now = timezone.now()
    running = black_friday(channel, now)
    add_messages(channel, [Status.DELIVERED, Status.SENT, Status.QUEUED, Status.QUEUED], campaign=running)
    soon = Campaign.objects.create(
        name="Cyber Monday",
        channel=channel,
        status=Campaign.Status.SCHEDULED,
        scheduled_at=datetime(2030, 1, 6, 6, 0, tzinfo=zoneinfo.ZoneInfo("UTC")),
    )
    held = Campaign.objects.create(
        name="Late one",
        channel=channel,
        status=Campaign.Status.SCHEDULED,
        scheduled_at=now - timedelta(hours=5),
        status_reason="Waiting for you: it would start 5 hours late.",
    )
    channel.paused_at, channel.paused_reason = now, "Twilio says the credentials are wrong (20003)"
    channel.save()
    add_messages(channel, [Status.UNKNOWN] * 3)

    page = staff.get("/admin/").content.decode()
    assert f'href="/admin/campaigns/campaign/{running.pk}/change/">Black Friday</a>' in page
    assert 'aria-valuenow="50"' in page and "2 of 4 done" in page
    assert f'href="/admin/campaigns/campaign/{soon.pk}/change/">Cyber Monday</a>' in page
    assert "Sun 06 Jan, 09:00" in page  # 06:00 UTC shown in Nairobi
    assert f'href="/admin/campaigns/campaign/{held.pk}/change/">Late one is waiting for you</a>' in page
    assert f'href="/admin/providers/channel/{channel.pk}/change/">Channel Sandbox is paused</a>' in page
    assert "credentials are wrong (20003)" in page
    # A superuser settles them on the page that groups them by campaign.
    assert 'href="/admin/campaigns/outboundmessage/unknown/">3 message(s) with an unknown outcome' in page


def receipts_waiting(channel, count: int, minutes: float) -> None:
    """``count`` receipts the webhooks took ``minutes`` ago, not applied yet."""
    take(ReceiptEvent(channel.pk, f"SM{i}", DeliveryState.DELIVERED) for i in range(count))
    ReceivedEvent.objects.update(received_at=timezone.now() - timedelta(minutes=minutes))


def test_receipts_waiting_long_or_many_need_attention(staff, channel, marketing_staff, client):
    receipts_waiting(channel, 5, minutes=0)
    assert "waiting to be applied" not in staff.get("/admin/").content.decode()  # a few, just taken: normal

    ReceivedEvent.objects.update(received_at=timezone.now() - timedelta(minutes=3))
    page = staff.get("/admin/").content.decode()
    assert 'href="/admin/rq/">5 receipts and replies waiting to be applied' in page
    assert "the oldest for 3\xa0minutes" in page

    client.force_login(marketing_staff)
    page = client.get("/admin/").content.decode()
    assert "5 receipts and replies waiting to be applied" in page
    assert "see the job queues" not in page  # the queues are administrators' business


def test_a_quiet_day_says_so(staff):
    page = staff.get("/admin/").content.decode()
    assert "Nothing: every channel is sending" in page
    assert "No campaign is sending right now." in page
    assert figure(page, "today-delivery-rate") == "\u2013"  # an en dash: no rate yet


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_in_a_browser(page, live_server, nairobi_staff, channel):
    now = timezone.now()
    running = black_friday(channel, now)
    add_messages(channel, [Status.DELIVERED, Status.READ, Status.FAILED, Status.QUEUED], campaign=running)
    Campaign.objects.create(
        name="Cyber Monday", channel=channel, status=Campaign.Status.SCHEDULED, scheduled_at=now + timedelta(days=6)
    )
    channel.paused_at, channel.paused_reason = now, "Out of credit at the provider"
    channel.save()
    receipts_waiting(channel, 3, minutes=5)
    log_in(page, live_server, "amina")
    page.wait_for_selector("#dashboard")
    shot(page, "dashboard")
    assert "3 receipts and replies waiting to be applied" in page.inner_text("#dashboard-attention")
    assert page.inner_text("#today-delivery-rate") == "67%"
    page.click("#dashboard-running a")
    page.wait_for_url(f"**/admin/campaigns/campaign/{running.pk}/change/")

"""Prometheus metrics at /admin/metrics/ for administrators or a scraper's bearer token, and django-rq's
pages for administrators, linked from their dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from campaigns.models import Campaign, OutboundMessage
from campaigns.pipeline.batching import PENDING
from campaigns.pipeline.queueing import connection
from tests.conftest import run_worker
from tests.test_unknown_outcomes import in_doubt_message

URL = "/admin/metrics/"
TOKEN = "scrape-token-8f2d1c0b9a"
Status = OutboundMessage.Status


@pytest.fixture
def superuser_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "a-long-test-password"))
    return client


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from Prometheus's text format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict:
    answer = client.get(URL, headers=headers)
    assert answer.status_code == 200, answer.status_code
    assert answer["Content-Type"].startswith("text/plain; version=")
    return samples(answer.content.decode())


# --- who may read them ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client):
    answer = client.get(URL)
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/?next=/admin/metrics/")


@pytest.mark.django_db
def test_a_user_who_is_not_staff_cannot_read_them(client):
    client.force_login(get_user_model().objects.create_user("pat", "p@example.com", "a-long-test-password"))
    assert client.get(URL).status_code == 302


@pytest.mark.django_db
def test_marketing_is_refused_with_the_permission_named(client, marketing_staff):
    client.force_login(marketing_staff)
    refused = client.get(URL)
    assert refused.status_code == 403
    assert "Can run the job queues and read the metrics" in refused.content.decode()
    assert "campaigns.operate_queues" in refused.content.decode()


@pytest.mark.django_db
def test_staff_given_the_operations_permission_may_read_them(client, marketing_staff):
    marketing_staff.user_permissions.add(Permission.objects.get(codename="operate_queues"))
    client.force_login(marketing_staff)
    assert ("messaging_api_messages_pending", ()) in scrape(client)


@pytest.mark.django_db
def test_a_scraper_with_the_token_may_read_them_and_a_wrong_token_is_refused_without_echo(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert ("messaging_api_messages_pending", ()) in scrape(client, Authorization=f"Bearer {TOKEN}")
    refused = client.get(URL, headers={"Authorization": "Bearer guess-123"})
    assert refused.status_code == 401
    body = refused.content.decode()
    assert "guess-123" not in body and TOKEN not in body


@pytest.mark.django_db
def test_no_token_configured_means_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(URL, headers={"Authorization": "Bearer "}).status_code == 401


# --- what they say ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_outcomes_queues_campaign_progress_and_doubt_are_counted(superuser_client, channel, make_contact, make_list):
    people = make_list("Metrics", [make_contact(f"+44791112{n:04d}", f"P{n}") for n in range(3)])
    done = Campaign.objects.create(name="Done", channel=channel, text="Hi {{ name }}")
    done.lists.set([people])
    done.launch()
    run_worker()
    running = Campaign.objects.create(
        name="Running", channel=channel, text="Hi", status=Campaign.Status.RUNNING, recipient_count=4
    )
    for n, status in enumerate([Status.SENT, Status.QUEUED, Status.QUEUED, Status.UNKNOWN]):
        OutboundMessage.objects.create(
            campaign=running, channel=channel, to=f"+4479111299{n:02d}", recipient_key=str(n), status=status
        )
    in_doubt_message(channel, to="+447911129999", status=Status.SENDING)
    OutboundMessage.send_one(channel=channel, to="+447911120000", text="waiting")  # a job on `high`
    connection().rpush(PENDING, 12345)

    found = scrape(superuser_client)
    sandbox = f"{channel.pk} Sandbox"
    assert found[("messaging_message_outcomes_total", (("channel", sandbox), ("outcome", "sent")))] == 3
    campaign = f"{running.pk} Running"
    assert found[("messaging_campaign_recipients", (("campaign", campaign), ("channel", "Sandbox")))] == 4
    assert found[("messaging_campaign_messages", (("campaign", campaign), ("status", "queued")))] == 2
    assert found[("messaging_campaign_progress_ratio", (("campaign", campaign),))] == 0.5
    assert ("messaging_campaign_recipients", (("campaign", f"{done.pk} Done"), ("channel", "Sandbox"))) not in found
    assert found[("messaging_messages_in_doubt", (("channel", sandbox), ("state", "unknown")))] == 1
    assert found[("messaging_messages_in_doubt", (("channel", sandbox), ("state", "stuck")))] == 1
    assert found[("messaging_channel_rate_limit", (("channel", sandbox),))] == 1000
    assert found[("messaging_channel_paused", (("channel", sandbox),))] == 0
    assert found[("messaging_channel_booked_ahead_seconds", (("channel", sandbox),))] >= 0
    assert found[("messaging_api_messages_pending", ())] == 1
    # django-rq's collector: queue lengths by job state (the single message waits on `high`).
    assert found[("rq_jobs", (("queue", "high"), ("status", "queued")))] == 1
    assert found[("rq_jobs", (("queue", "default"), ("status", "failed")))] == 0


@pytest.mark.django_db(transaction=True)
def test_receipts_are_counted_as_they_move_messages(superuser_client, channel, worker):
    from providers.events import DeliveryState, ReceiptEvent, apply_receipt

    message = OutboundMessage.send_one(channel=channel, to="+447911123456", text="Hi")
    worker()
    message.refresh_from_db()
    assert apply_receipt(ReceiptEvent(channel.pk, message.provider_message_id, DeliveryState.DELIVERED))
    assert not apply_receipt(ReceiptEvent(channel.pk, message.provider_message_id, DeliveryState.DELIVERED))
    found = scrape(superuser_client)
    assert (
        found[("messaging_message_outcomes_total", (("channel", f"{channel.pk} Sandbox"), ("outcome", "delivered")))]
        == 1
    )


def test_the_receiving_backlog_is_a_gauge_with_the_age_of_the_oldest(superuser_client, channel):
    from django.utils import timezone

    from providers.events import DeliveryState, ReceiptEvent, take
    from providers.models import ReceivedEvent

    quiet = scrape(superuser_client)
    assert (
        quiet[("messaging_receiving_backlog_events", ())],
        quiet[("messaging_receiving_backlog_oldest_seconds", ())],
    ) == (0, 0)

    take(ReceiptEvent(channel.pk, f"SM{i}", DeliveryState.DELIVERED) for i in range(3))
    ReceivedEvent.objects.filter(pk=ReceivedEvent.objects.order_by("id").first().pk).update(
        received_at=timezone.now() - timedelta(seconds=120)
    )
    found = scrape(superuser_client)
    assert found[("messaging_receiving_backlog_events", ())] == 3
    assert 120 <= found[("messaging_receiving_backlog_oldest_seconds", ())] < 130

    run_worker()
    assert scrape(superuser_client)[("messaging_receiving_backlog_events", ())] == 0


# --- django-rq and the links ------------------------------------------------------------------------


@pytest.mark.django_db
def test_django_rq_stats_are_for_administrators_and_linked_from_their_dashboard(superuser_client, client):
    page = superuser_client.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/rq/">Queues and workers</a>' in page
    assert 'href="/admin/metrics/">Metrics (Prometheus)</a>' in page
    assert 'href="/admin/campaigns/outboundmessage/unknown/">Unknown outcomes</a>' in page
    stats = superuser_client.get("/admin/rq/")
    assert stats.status_code == 200 and "high" in stats.content.decode()
    client.logout()
    assert client.get("/admin/rq/").status_code == 302  # signed out: the login page


@pytest.mark.django_db
def test_the_marketing_group_gets_no_operations_links(client, marketing_staff):
    client.force_login(marketing_staff)
    assert "dashboard-operations" not in client.get(reverse("admin:index")).content.decode()

"""sendbulk delivery reports: the getdlr poller, the push webhook, and the whole way round."""

from __future__ import annotations

import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq.cron import CronScheduler

from campaigns.models import OutboundMessage
from campaigns.pipeline.sending import send_messages
from providers.fakes.server import Behaviour
from providers.models import Channel, ReceivedEvent
from providers.sendbulk.dlr import poll_delivery_reports
from providers.sendbulk.fake import FakeSendbulk, SendbulkConfig
from tests.conftest import run_worker

Status = OutboundMessage.Status


@pytest.fixture(scope="module")
def server():
    with FakeSendbulk() as server:
        yield server


@pytest.fixture
def fake(server):
    server.reset(SendbulkConfig(partner_id="7788", apikey="sb-key"), Behaviour(callback_delay=0.05))
    return server


@pytest.fixture
def sendbulk_channel(db, fake) -> Channel:
    return Channel.objects.create(
        name="Sendbulk",
        provider="sendbulk",
        sender="ACME_LTD",
        credentials={"partner_id": "7788", "apikey": "sb-key"},
        api_base_url=f"{fake.base_url}/api/services",
        rate_limit=10_000,
    )


def sent_through(channel: Channel, *numbers: str) -> list[OutboundMessage]:
    """Send one message to each number through the pipeline, then age them past MIN_AGE."""
    messages = [OutboundMessage.send_one(channel=channel, to=number, text="Your code is 1234") for number in numbers]
    send_messages([m.pk for m in messages])
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        sent_at=timezone.now() - timedelta(minutes=2)
    )
    for message in messages:
        message.refresh_from_db()
        assert message.status == Status.SENT, message.error_message
    return messages


# --- polling -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_polling_moves_a_sent_message_to_delivered(fake, sendbulk_channel):
    (message,) = sent_through(sendbulk_channel, "+254700000001")
    counts = poll_delivery_reports()
    message.refresh_from_db()
    assert counts == {"asked": 1, "delivered": 1, "undelivered": 0, "waiting": 0}
    assert message.status == Status.DELIVERED
    dlr = [r for r in fake.received if r.path.endswith("/getdlr/")]
    assert dlr[0].json() == {"partnerID": "7788", "apikey": "sb-key", "messageID": message.provider_message_id}


@pytest.mark.django_db
def test_a_failed_delivery_is_undelivered_with_the_gateways_words(fake, sendbulk_channel):
    fake.config.delivery["254700000002"] = "AbsentSubscriber"
    (message,) = sent_through(sendbulk_channel, "+254700000002")
    poll_delivery_reports()
    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_message) == (
        Status.UNDELIVERED,
        "1",
        "AbsentSubscriber",
    )


@pytest.mark.django_db
def test_a_message_still_on_its_way_stays_sent_and_goes_to_the_back_of_the_line(fake, sendbulk_channel):
    fake.config.delivery["254700000003"] = "MessageWaiting"
    waiting, other = sent_through(sendbulk_channel, "+254700000003", "+254700000004")
    OutboundMessage.objects.filter(pk=other.pk).update(updated_at=timezone.now())  # asked about last
    assert poll_delivery_reports(limit=1) == {"asked": 1, "delivered": 0, "undelivered": 0, "waiting": 1}
    assert poll_delivery_reports(limit=1)["delivered"] == 1  # the next run asks about the other one
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert (waiting.status, other.status) == (Status.SENT, Status.DELIVERED)


@pytest.mark.django_db
def test_messages_just_sent_or_long_ago_are_not_asked_about(fake, sendbulk_channel):
    recent, old = sent_through(sendbulk_channel, "+254700000005", "+254700000006")
    OutboundMessage.objects.filter(pk=recent.pk).update(sent_at=timezone.now())
    OutboundMessage.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=4))
    assert poll_delivery_reports()["asked"] == 0


@pytest.mark.django_db
def test_a_channel_that_receives_pushed_reports_can_skip_polling(fake, sendbulk_channel):
    sent_through(sendbulk_channel, "+254700000007")
    Channel.objects.filter(pk=sendbulk_channel.pk).update(options={"poll_delivery_reports": False})
    assert poll_delivery_reports()["asked"] == 0


@pytest.mark.django_db
def test_a_gateway_refusing_the_credentials_changes_nothing(fake, sendbulk_channel, caplog):
    (message,) = sent_through(sendbulk_channel, "+254700000008")
    Channel.objects.filter(pk=sendbulk_channel.pk).update(credentials={"partner_id": "7788", "apikey": "revoked"})
    assert poll_delivery_reports()["asked"] == 0
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert "Invalid credentials" in caplog.text


@pytest.mark.django_db
def test_the_misspelt_code_key_does_not_stop_the_report(fake, sendbulk_channel):
    fake.config.misspell = True
    (message,) = sent_through(sendbulk_channel, "+254700000009")
    poll_delivery_reports()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


@pytest.mark.django_db
def test_the_poller_runs_every_minute_from_the_cron_config():
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("messaging_site.cron")
    intervals = {job.func: job.interval for job in scheduler.get_jobs()}
    assert intervals[poll_delivery_reports] == 60


# --- the push webhook --------------------------------------------------------------------------


def push(client, channel: Channel, **report):
    """POST a report as the gateway would, then let the receiving worker apply what was taken."""
    body = {"description": "DeliveredToTerminal", "timeTaken": "3s", "timestamp": "20250101120000", **report}
    response = client.post(f"/webhooks/sendbulk/{channel.webhook_token}/dlr", body, content_type="application/json")
    run_worker()
    return response


@pytest.fixture
def sent_message(sendbulk_channel) -> OutboundMessage:
    return OutboundMessage.objects.create(
        channel=sendbulk_channel, to="+254700000010", status=Status.SENT, provider_message_id="70000123"
    )


@pytest.mark.django_db
def test_a_pushed_report_marks_the_message_delivered_once(client, sendbulk_channel, sent_message):
    first = push(client, sendbulk_channel, messageid=70000123)
    sent_message.refresh_from_db()
    delivered = (sent_message.status, sent_message.delivered_at, sent_message.updated_at)
    second = push(client, sendbulk_channel, messageid="70000123")
    sent_message.refresh_from_db()
    assert (first.json()["taken"], second.json()["taken"]) == (1, 1)
    assert delivered[0] == Status.DELIVERED
    assert (sent_message.status, sent_message.delivered_at, sent_message.updated_at) == delivered


@pytest.mark.django_db
def test_a_late_failure_report_never_undoes_a_delivery(client, sendbulk_channel, sent_message):
    push(client, sendbulk_channel, messageid="70000123")
    push(client, sendbulk_channel, messageid="70000123", description="DeliveryImpossible")
    push(client, sendbulk_channel, messageid="70000123", description="MessageWaiting")
    sent_message.refresh_from_db()
    assert sent_message.status == Status.DELIVERED


@pytest.mark.django_db
def test_a_pushed_failure_as_form_fields_is_undelivered(client, sendbulk_channel, sent_message):
    url = f"/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr"
    response = client.post(url, {"description": "SenderName Blacklisted", "messageid": "70000123"})
    run_worker()
    sent_message.refresh_from_db()
    assert response.status_code == 200
    assert (sent_message.status, sent_message.error_message) == (Status.UNDELIVERED, "SenderName Blacklisted")


@pytest.mark.django_db
def test_a_report_for_an_unknown_message_is_acknowledged(client, sendbulk_channel, caplog):
    response = push(client, sendbulk_channel, messageid="999")
    assert (response.status_code, response.json()["taken"]) == (200, 1)
    assert "999" in caplog.text  # the worker logged it and dropped it
    assert not ReceivedEvent.objects.exists()


@pytest.mark.django_db
def test_a_push_of_many_reports_is_taken_in_one_go(client, sendbulk_channel, sent_message):
    other = OutboundMessage.objects.create(
        channel=sendbulk_channel, to="+254700000011", status=Status.SENT, provider_message_id="70000124"
    )
    reports = [
        {"description": "DeliveredToTerminal", "messageid": "70000123"},
        {"description": "MessageWaiting", "messageid": "70000124"},  # nothing final: not taken
        {"description": "DeliveryImpossible", "messageid": "70000124"},
    ]
    url = f"/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr"
    response = client.post(url, reports, content_type="application/json")
    assert (response.status_code, response.json()["taken"]) == (200, 2)
    assert ReceivedEvent.objects.count() == 2
    run_worker()
    sent_message.refresh_from_db()
    other.refresh_from_db()
    assert (sent_message.status, other.status) == (Status.DELIVERED, Status.UNDELIVERED)


@pytest.mark.django_db
def test_a_push_with_one_bad_report_is_refused_whole_naming_it(client, sendbulk_channel, sent_message):
    reports = [{"description": "DeliveredToTerminal", "messageid": "70000123"}, {"description": "DeliveredToTerminal"}]
    url = f"/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr"
    response = client.post(url, reports, content_type="application/json")
    assert (response.status_code, response.json()["field"]) == (400, "body[1].messageid")
    assert not ReceivedEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{broken", "[1]", '{"description": "DeliveredToTerminal"}'])
def test_a_malformed_report_is_a_400(client, sendbulk_channel, body):
    url = f"/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr"
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.django_db
def test_an_unknown_token_is_a_404_and_get_is_not_allowed(client, sendbulk_channel):
    assert client.post("/webhooks/sendbulk/nope/dlr", {"messageid": "1"}).status_code == 404
    assert client.get(f"/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr").status_code == 405


# --- the whole way round -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_message_is_sent_by_the_worker_and_its_pushed_report_comes_back(fake, sendbulk_channel, worker, live_server):
    fake.config.callback_url = f"{live_server.url}/webhooks/sendbulk/{sendbulk_channel.webhook_token}/dlr"
    message = OutboundMessage.send_one(channel=sendbulk_channel, to="+254700000011", text="Hello")
    worker()
    message.refresh_from_db()
    assert message.status in (Status.SENT, Status.DELIVERED)
    assert message.provider_message_id in fake.messages
    deadline = time.monotonic() + 10
    while message.status != Status.DELIVERED and time.monotonic() < deadline:
        time.sleep(0.05)
        worker()  # the receiving job, as rqcron starts it every second
        message.refresh_from_db()
    assert message.status == Status.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_the_cron_poller_runs_as_an_rq_job_and_records_delivery(fake, sendbulk_channel, worker):
    (message,) = sent_through(sendbulk_channel, "+254700000012")
    django_rq.get_queue("default").enqueue(poll_delivery_reports)
    worker()
    message.refresh_from_db()
    assert message.status == Status.DELIVERED

"""Event webhooks: signed as Standard Webhooks says, retried with backoff, switched off after a day
of failures, never sent to a private address, and a request's status_callback told too.

The receiver is a real HTTP server on loopback; the deliveries are made by the real RQ worker
(tests/conftest.py) from the outbox rows written with the changes.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from campaigns.events import Event, record_events
from campaigns.events.delivery import Holder, Outcome, Poster, Summary, claim, deliver_due, record_outcomes
from campaigns.events.destinations import url_problem
from campaigns.events.signing import new_secret, rotate_endpoint_secret, status_callback_secret
from campaigns.models import Campaign, OutboundMessage, WebhookAttempt, WebhookEndpoint, WebhookEvent
from campaigns.pipeline.jobs import complete_if_done
from campaigns.pipeline.receipts import apply_receipt
from providers.events import DeliveryState, ReceiptEvent

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """A loopback receiver: keeps every request, answers ``status`` (503 while ``down``)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.status = 200
        self.answer_after = 0.0  # seconds each POST waits for its answer (a slow receiver)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(({**headers, "path": self.path}, body))
                time.sleep(receiver.answer_after)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.server.shutdown()


def endpoint_for(url: str, *types: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url=url, secret=new_secret(), event_types=list(types or ["message.delivered"])
    )


def sent_message(channel, **fields) -> OutboundMessage:
    now = timezone.now()
    return OutboundMessage.objects.create(
        channel=channel, to="+447911123456", body="Hi", status="sent", provider_message_id="SM1", sent_at=now, **fields
    )


def delivered(message: OutboundMessage) -> bool:
    return apply_receipt(ReceiptEvent(message.channel_id, "SM1", DeliveryState.DELIVERED, message_id=message.pk))


def test_a_receipt_is_told_to_the_endpoint_signed_as_standard_webhooks_says(channel, receiver, worker):
    endpoint = endpoint_for(receiver.url, "message.delivered", "message.read")
    message = sent_message(channel)
    assert delivered(message)
    worker()
    [(headers, body)] = receiver.requests
    payload = Webhook(endpoint.secret).verify(body, headers)  # the receiver's own library accepts it
    assert payload["type"] == "message.delivered"
    assert payload["id"] == headers["webhook-id"] and payload["id"].startswith("evt_")
    assert payload["data"]["message_id"] == message.pk and payload["data"]["status"] == "delivered"
    assert payload["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)  # another secret does not
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.last_status_code) == ("delivered", 1, 200)
    assert WebhookAttempt.objects.get().status_code == 200


def test_an_endpoint_gets_only_the_events_it_asked_for(channel, receiver, worker):
    endpoint_for(receiver.url, "message.read")
    assert delivered(sent_message(channel))
    worker()
    assert receiver.requests == [] and not WebhookEvent.objects.exists()


def test_a_change_rolled_back_records_no_event(channel, receiver):
    from django.db import transaction

    endpoint_for(receiver.url)
    message = sent_message(channel)
    with pytest.raises(RuntimeError), transaction.atomic():
        delivered(message)
        raise RuntimeError("the change fails")
    assert not WebhookEvent.objects.exists()


def test_a_failing_receiver_is_tried_again_later_with_growing_waits_then_delivered(channel, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10.0
    endpoint = endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    receiver.status = 500
    waits = []
    for _ in range(3):
        before = timezone.now()
        deliver_due(30)
        event = WebhookEvent.objects.get()
        assert event.status == "pending" and event.last_status_code == 500
        waits.append((event.next_attempt_at - before).total_seconds())
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None and endpoint.resting_until > before
        # Time travel: the event and its endpoint are due again.
        WebhookEvent.objects.update(next_attempt_at=timezone.now())
        WebhookEndpoint.objects.update(resting_until=None)
    assert 5 <= waits[0] <= 10.5 and 10 <= waits[1] <= 20.5 and 20 <= waits[2] <= 40.5, waits
    receiver.status = 204
    deliver_due(30)
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("delivered", 4)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled
    assert [a.status_code for a in WebhookAttempt.objects.order_by("id")] == [500, 500, 500, 204]
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1  # one id on every try


def test_a_resting_endpoint_is_not_tried_until_its_wait_is_over(channel, receiver):
    endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    receiver.status = 503
    deliver_due(30)
    WebhookEvent.objects.update(next_attempt_at=timezone.now())  # the event is due, the endpoint rests
    deliver_due(30)
    assert len(receiver.requests) == 1


def test_an_endpoint_failing_for_a_day_is_switched_off_and_the_dashboard_says_so(channel, receiver, admin_client):
    endpoint = endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    receiver.status = 500
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(hours=24, minutes=1))
    deliver_due(30)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert "HTTP 500" in endpoint.disabled_reason
    page = admin_client.get("/admin/").content.decode()
    assert "switched off" in page and receiver.url in page
    # Its events wait (not tried) until it is switched on again.
    WebhookEvent.objects.update(next_attempt_at=timezone.now())
    deliver_due(30)
    assert len(receiver.requests) == 1


def test_an_event_not_delivered_within_a_day_is_given_up(channel, receiver):
    endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    receiver.status = 500
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(hours=25))
    deliver_due(30)
    assert WebhookEvent.objects.get().status == "failed"


def test_a_batch_claimed_again_by_another_worker_keeps_that_workers_outcome(channel, receiver):
    """A batch slower than the stale-claim limit is taken by another worker; the slow one's late
    outcome (here a give-up) must not free the rows or mark them failed under the other's claim."""
    endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    [slow] = claim()
    WebhookEvent.objects.update(claimed_at=timezone.now() - timedelta(hours=1))  # gone stale
    [other] = claim()
    assert other.claim_token != slow.claim_token
    record_outcomes([slow], [Outcome(error="Not sent: the address became private")], Summary())
    event = WebhookEvent.objects.get()
    assert (event.status, event.claim_token) == ("pending", other.claim_token)
    record_outcomes([other], [Outcome(status_code=200)], Summary())
    event.refresh_from_db()
    assert (event.status, event.claim_token) == ("delivered", None)


def some_events(count: int) -> None:
    record_events(Event("message.delivered", {"message_id": n}) for n in range(count))


def post_claimed(events, holder: Holder) -> Summary:
    poster, summary = Poster(), Summary()
    try:
        record_outcomes(events, poster.post_all(events, holder), summary)
    finally:
        poster.close()
    return summary


def test_a_worker_renews_its_claim_while_it_sends_so_no_other_worker_takes_it(receiver, settings):
    """A claim whose POSTs outlast the stale-claim limit stays its worker's: another worker looking
    for due events between its POSTs finds none (before, it took them all and sent them again)."""
    settings.WEBHOOK_CLAIM_STALE_SECONDS, settings.WEBHOOK_CONCURRENCY = 1, 1
    receiver.answer_after = 0.3
    endpoint_for(receiver.url)
    some_events(6)  # one at a time, 1.8 s: well past the limit
    events = claim()
    taken_by_another: list = []

    def another_worker_looks() -> bool:
        taken_by_another.extend(claim())
        return False

    holder = Holder(events, stop=another_worker_looks)
    summary = post_claimed(events, holder)
    assert taken_by_another == []
    assert summary.delivered == 6 and holder.renewals >= 5  # renewed every fifth of the limit
    assert len(receiver.requests) == 6
    assert set(WebhookEvent.objects.values_list("status", "claim_token", "attempts")) == {("delivered", None, 1)}


def test_a_worker_told_to_stop_puts_its_unsent_events_back_unclaimed_and_untried(receiver, settings):
    """A job whose budget is spent (or whose worker a send needs) stops mid-claim: what it did not
    POST goes back to the outbox due, with no attempt counted, for the next job."""
    settings.WEBHOOK_CLAIM_STALE_SECONDS, settings.WEBHOOK_CONCURRENCY = 1, 1
    receiver.answer_after = 0.3
    endpoint_for(receiver.url)
    some_events(10)
    events = claim()
    summary = post_claimed(events, Holder(events, stop=lambda: len(receiver.requests) >= 2))
    sent = len(receiver.requests)
    assert 2 <= sent < 10 and summary.delivered == sent and summary.not_tried == 10 - sent
    rest = WebhookEvent.objects.exclude(status="delivered")
    assert set(rest.values_list("status", "claim_token", "attempts")) == {("pending", None, 0)}
    assert rest.count() == 10 - sent and not WebhookAttempt.objects.filter(event__in=rest).exists()
    deliver_due(30)
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == len(receiver.requests) == 10


def test_a_worker_that_stalled_past_the_limit_sends_nothing_more_of_its_claim(receiver, settings):
    """A worker that froze longer than the limit (its claim went stale and another worker took it)
    starts no further POST of it: the other worker's claim stands, and it sends them."""
    settings.WEBHOOK_CLAIM_STALE_SECONDS, settings.WEBHOOK_CONCURRENCY = 1, 1
    receiver.answer_after = 0.3
    endpoint_for(receiver.url)
    some_events(6)
    events = claim()
    stolen: list = []

    def stall_while_another_takes_the_claim() -> bool:
        if not stolen:
            time.sleep(1.2)  # frozen (a stop-the-world pause, a stopped container) past the limit
            stolen.extend(claim())
        return False

    summary = post_claimed(events, Holder(events, stop=stall_while_another_takes_the_claim))
    assert len(stolen) == 6  # the first was already on its way when the worker froze
    assert len(receiver.requests) == 1 and summary.not_tried == 5
    assert set(WebhookEvent.objects.values_list("status", "claim_token")) == {("pending", stolen[0].claim_token)}


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "file:///etc/passwd",
    ],
)
def test_a_url_that_is_not_http_or_is_private_is_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert url_problem(url)


def test_a_private_url_is_allowed_by_the_setting_and_a_public_one_always(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert url_problem("http://127.0.0.1:9000/hooks") == ""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert url_problem("https://93.184.215.14/hooks") == ""


def test_an_endpoint_that_became_private_is_not_posted_to(channel, receiver, settings):
    endpoint_for(receiver.url)
    assert delivered(sent_message(channel))
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    deliver_due(30)
    assert receiver.requests == []
    event = WebhookEvent.objects.get()
    assert event.status == "failed" and "loopback" in event.last_error


def test_a_status_callback_gets_the_messages_events_signed_with_the_accounts_secret(channel, receiver):
    message = sent_message(channel, status_callback=receiver.url)
    assert delivered(message)
    deliver_due(30)
    [(headers, body)] = receiver.requests
    payload = Webhook(status_callback_secret()).verify(body, headers)
    assert payload["type"] == "message.delivered" and payload["data"]["message_id"] == message.pk


def test_a_finished_bulk_job_tells_its_status_callback_and_the_endpoints(channel, receiver):
    endpoint_for(receiver.url, "bulk_job.completed", "campaign.completed")
    job = Campaign.objects.create(
        name="API", kind="bulk_api", channel=channel, status="running", fanned_out_at=timezone.now(),
        status_callback=receiver.url,
    )  # fmt: skip
    OutboundMessage.objects.create(campaign=job, channel=channel, to="+447911123456", status="delivered")
    assert complete_if_done(job.pk)
    deliver_due(30)
    payloads = receiver.payloads()
    assert [p["type"] for p in payloads] == ["bulk_job.completed", "bulk_job.completed"]
    assert payloads[0]["data"]["bulk_job_id"] == job.pk and payloads[0]["data"]["messages"] == {"delivered": 1}
    assert not complete_if_done(job.pk)  # told once


def test_a_batch_of_events_is_one_insert(receiver, django_assert_max_num_queries):
    endpoint_for(receiver.url, "contact.opted_out")
    endpoint_for(receiver.url, "contact.opted_out")
    events = [Event("contact.opted_out", {"phone": f"+4479111{n:05d}"}) for n in range(5000)]
    with django_assert_max_num_queries(2):  # the endpoints, then one INSERT (executemany on SQLite)
        assert record_events(events) == 10_000
    assert WebhookEvent.objects.values("event_id").distinct().count() == 5000
    row = WebhookEvent.objects.order_by("id").first()
    assert (row.status, row.attempts, row.payload["type"]) == ("pending", 0, "contact.opted_out")
    assert row.payload["data"]["phone"] == "+447911100000" and row.next_attempt_at == row.created_at


# --- status_callback on the API -------------------------------------------------------------------


@pytest.fixture
def call(django_user_model):
    from django.test import Client

    from campaigns.models import ApiKey

    key = ApiKey.issue(django_user_model.objects.create_user("shop", is_staff=True), name="shop")[1]
    client = Client()

    def call(path: str, body: dict, method: str = "post"):
        send = getattr(client, method)
        response = send(path, data=json.dumps(body), content_type="application/json", headers={"apikey": key})
        return response.status_code, json.loads(response.content)

    return call


def test_post_message_with_a_status_callback_tells_it_the_message_went(call, channel, receiver, worker):
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": "+447911123456", "text": "Hi"}
    status, answer = call("/message", {**body, "status_callback": receiver.url})
    assert status in (200, 201, 202), answer
    worker()
    sent = [p for p in receiver.payloads() if p["type"] == "message.sent"]
    assert [p["data"]["message_id"] for p in sent] == [int(answer["data"]["message_id"])]
    headers, raw = receiver.requests[0]
    Webhook(status_callback_secret()).verify(raw, headers)


def test_a_bulk_job_with_a_status_callback_tells_each_message_and_its_completion(call, channel, receiver, worker):
    recipients = [{"to": f"+4479111234{n:02d}"} for n in range(3)]
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "recipients": recipients, "text": "Hi"}
    status, answer = call("/messages/bulk", {**body, "status_callback": receiver.url})
    assert status in (200, 201, 202), answer
    worker()
    worker()  # the completion's delivery, once the last dispatch has finished
    types = sorted(p["type"] for p in receiver.payloads())
    assert types.count("message.sent") == 3 and types.count("bulk_job.completed") == 1, types


def test_a_cancelled_scheduled_bulk_job_tells_each_recipient_and_its_end_once(call, channel, receiver, worker):
    recipients = [{"to": f"+4479111234{n:02d}"} for n in range(3)]
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "recipients": recipients, "text": "Hi"}
    status, answer = call("/messages/bulk", {**body, "schedule": later, "status_callback": receiver.url})
    assert status in (200, 201, 202), answer
    job_id = int(answer["data"]["job_id"])
    status, answer = call(f"/messages/bulk/{job_id}", {"cancel": True}, method="put")
    assert status == 200 and answer["data"]["state"] == "cancelled", answer
    worker()
    payloads = receiver.payloads()
    failed = [p["data"] for p in payloads if p["type"] == "message.failed"]
    assert sorted(d["to"] for d in failed) == [r["to"] for r in recipients]
    told = {(d["status"], d["error_code"], d["error_message"], d["bulk_job_id"], d["message_id"]) for d in failed}
    assert told == {("cancelled", "cancelled", "Cancelled through the API.", job_id, None)}
    [done] = [p["data"] for p in payloads if p["type"] == "bulk_job.completed"]
    assert (done["bulk_job_id"], done["state"], done["messages"]) == (job_id, "cancelled", {"cancelled": 3})
    assert len(payloads) == 4 and len({p["id"] for p in payloads}) == 4
    headers, raw = receiver.requests[0]
    Webhook(status_callback_secret()).verify(raw, headers)
    assert call(f"/messages/bulk/{job_id}", {"cancel": True}, method="put")[0] == 200  # cancelled already
    Campaign.objects.filter(pk=job_id).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    worker()
    assert len(receiver.payloads()) == 4  # nothing twice, and the job never fanned out


def test_cancelling_a_big_scheduled_bulk_job_records_its_events_with_one_insert(
    channel, receiver, django_assert_max_num_queries
):
    recipients = [{"to": f"+4479111{n:05d}"} for n in range(10_000)]
    job = Campaign.objects.create(
        name="API", kind="bulk_api", channel=channel, status="scheduled", status_callback=receiver.url,
        scheduled_at=timezone.now() + timedelta(hours=1), inline_recipients=recipients, recipient_count=10_000,
    )  # fmt: skip
    # The cancel, the endpoints and the recipients read, one INSERT of 10,000 rows (executemany on
    # SQLite); the job and its counts read, the endpoints, one INSERT; the transaction's own statements.
    with django_assert_max_num_queries(10):
        assert job.cancel_before_start("Cancelled by staff.")
    assert WebhookEvent.objects.filter(type="message.failed").count() == 10_000
    [completed] = WebhookEvent.objects.filter(type="bulk_job.completed")
    assert completed.payload["data"]["messages"] == {"cancelled": 10_000}
    assert completed.payload["data"]["reason"] == "Cancelled by staff."


def test_a_cancelled_campaign_tells_its_waiting_messages_and_its_end_once(channel, receiver):
    endpoint = endpoint_for(receiver.url, "message.failed", "campaign.completed")
    campaign = Campaign.objects.create(name="Spring", channel=channel, status="running", fanned_out_at=timezone.now())
    gone = OutboundMessage.objects.create(
        campaign=campaign, channel=channel, to="+447911123400", status="sent", recipient_key="0"
    )
    waiting = [
        OutboundMessage.objects.create(
            campaign=campaign, channel=channel, to=f"+4479111234{n:02d}", status="queued", recipient_key=str(n)
        )
        for n in range(1, 3)
    ]
    assert campaign.cancel("Cancelled by ann.")
    assert not campaign.cancel("Cancelled by ann.")  # told once
    deliver_due(30)
    payloads = [Webhook(endpoint.secret).verify(body, headers) for headers, body in receiver.requests]
    failed = sorted(p["data"]["message_id"] for p in payloads if p["type"] == "message.failed")
    assert failed == [m.pk for m in waiting] and gone.pk not in failed
    assert {p["data"]["error_code"] for p in payloads if p["type"] == "message.failed"} == {"cancelled"}
    [done] = [p["data"] for p in payloads if p["type"] == "campaign.completed"]
    assert (done["campaign_id"], done["state"], done["reason"]) == (campaign.pk, "cancelled", "Cancelled by ann.")
    assert done["messages"] == {"sent": 1, "cancelled": 2} and len(payloads) == 3


def test_a_message_left_behind_by_a_cancel_is_told_when_the_reconciler_cancels_it(channel, receiver):
    from campaigns.pipeline.jobs import cancel_left_behind

    endpoint_for(receiver.url, "message.failed")
    campaign = Campaign.objects.create(name="Spring", channel=channel, status="running", fanned_out_at=timezone.now())
    assert campaign.cancel("Cancelled by ann.")
    late = OutboundMessage.objects.create(campaign=campaign, channel=channel, to="+447911123401", status="queued")
    assert cancel_left_behind() == 1
    assert cancel_left_behind() == 0
    deliver_due(30)
    [payload] = receiver.payloads()
    assert (payload["type"], payload["data"]["message_id"]) == ("message.failed", late.pk)
    assert (payload["data"]["error_code"], payload["data"]["error_message"]) == (
        "cancelled",
        "The campaign was cancelled.",
    )


def test_a_cancelled_draft_campaign_tells_nothing(channel, receiver):
    endpoint_for(receiver.url, "message.failed", "campaign.completed")
    assert Campaign.objects.create(name="Idea", channel=channel, status="draft").cancel("Not needed.")
    assert not WebhookEvent.objects.exists()


def test_a_cancelled_scheduled_message_tells_its_status_callback_once(channel, receiver):
    later = timezone.now() + timedelta(hours=1)
    message = OutboundMessage.objects.create(
        channel=channel, to="+447911123456", body="Hi", status="scheduled", send_at=later, status_callback=receiver.url
    )
    unheard = OutboundMessage.objects.create(channel=channel, to="+447911123457", body="Hi", status="scheduled")
    assert message.cancel() and unheard.cancel()
    assert not message.cancel()
    deliver_due(30)
    [payload] = receiver.payloads()
    assert payload["type"] == "message.failed" and payload["data"]["message_id"] == message.pk
    assert (payload["data"]["status"], payload["data"]["error_code"]) == ("cancelled", "cancelled")
    assert WebhookEvent.objects.count() == 1  # nobody listens to the other


@pytest.mark.parametrize(
    ("value", "status", "words"),
    [
        ("http://10.0.0.7/hooks", 403, "loopback, private or reserved"),
        ("http://127.0.0.1:9/hooks", 403, "loopback, private or reserved"),
        ("ftp://example.com/hooks", 400, "not an http(s) URL"),
        (17, 400, "expected a URL"),
    ],
)
def test_a_status_callback_that_is_not_public_http_is_refused_naming_the_field(
    call, channel, settings, value, status, words
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": "+447911123456", "text": "Hi"}
    for path, extra in (("/message", {}), ("/messages/bulk", {"recipients": [{"to": "+447911123456"}]})):
        request = {**body, **extra, "status_callback": value}
        if path == "/messages/bulk":
            request.pop("to")
        got, answer = call(path, request)
        assert got == status, answer
        assert "status_callback" in json.dumps(answer) and words in json.dumps(answer)
    assert not OutboundMessage.objects.exists() and not Campaign.objects.exists()


def test_an_opt_out_is_told_once_with_the_number_and_why(receiver):
    from campaigns.events import record_opt_outs
    from contacts.models import Contact

    endpoint = endpoint_for(receiver.url, "contact.opted_out")
    for _ in range(2):  # a second STOP adds nothing to the list, and tells nothing
        if Contact.opt_out_phone("+447911123456", "Replied STOP", source="reply"):
            record_opt_outs(["+447911123456"], source="reply", reason="Replied STOP")
    deliver_due(30)
    [(headers, body)] = receiver.requests
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert payload["type"] == "contact.opted_out"
    assert payload["data"]["phone"] == "+447911123456" and payload["data"]["reason"] == "Replied STOP"


def test_an_endpoint_that_asks_for_arrays_gets_a_burst_in_few_posts_each_event_with_its_id(channel, receiver):
    endpoint = endpoint_for(receiver.url, "contact.opted_out")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(events_per_request=50)
    record_events([Event("contact.opted_out", {"phone": f"+4479111{n:05d}"}) for n in range(120)])
    deliver_due(30)
    assert len(receiver.requests) == 3  # 50 + 50 + 20
    ids = set()
    for headers, body in receiver.requests:
        events = Webhook(endpoint.secret).verify(body, headers)
        assert isinstance(events, list) and not headers["webhook-id"].startswith("evt_")
        ids.update(event["id"] for event in events)
    assert len(ids) == 120 and WebhookEvent.objects.filter(status="delivered").count() == 120


def test_a_reply_and_a_stop_are_told_once_each_even_when_the_provider_retries(channel, receiver):
    from campaigns.conversations.store import receive
    from providers.events import InboundEvent

    endpoint = endpoint_for(receiver.url, "message.replied", "contact.opted_out")
    answered = sent_message(channel, status_callback=receiver.url)
    for _ in range(2):  # the provider's retry of the same callbacks stores and tells nothing more
        receive(
            [
                InboundEvent(channel.pk, "+447911123456", "Thanks!", provider_message_id="SMr1"),
                InboundEvent(channel.pk, "+447911123456", "STOP", provider_message_id="SMr2"),
            ]
        )
    deliver_due(30)
    by_type: dict[str, list] = {}
    for headers, body in receiver.requests:
        payload = verified(body, headers, endpoint.secret, status_callback_secret())
        by_type.setdefault(payload["type"], []).append(payload["data"])
    # The endpoint hears both replies and the opt-out; the answered message's status_callback hears the replies.
    assert len(by_type["message.replied"]) == 4 and len(by_type["contact.opted_out"]) == 1, by_type
    assert {d["text"] for d in by_type["message.replied"]} == {"Thanks!", "STOP"}
    assert {d["in_reply_to"] for d in by_type["message.replied"]} == {answered.pk}
    assert by_type["contact.opted_out"][0]["phone"] == "+447911123456"


def verified(body: bytes, headers: dict, *secrets: str) -> dict:
    """The payload, verified with whichever secret signed it (one event goes to both destinations)."""
    for secret in secrets:
        try:
            return Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
    raise AssertionError("no secret verifies this body")


def test_the_metrics_show_each_endpoints_waiting_events(channel, receiver, admin_client):
    endpoint = endpoint_for(receiver.url)
    record_events([Event("message.delivered", {"message_id": n}) for n in range(3)])
    text = admin_client.get("/admin/metrics/").content.decode()
    assert f'messaging_webhook_events_pending{{endpoint="{endpoint.pk}"}} 3.0' in text


def test_deleting_an_endpoint_deletes_its_events_and_attempts_and_leaves_the_others(channel, receiver, admin_client):
    endpoint = endpoint_for(receiver.url, "contact.opted_out")
    other = endpoint_for(receiver.url, "contact.opted_out")
    record_events([Event("contact.opted_out", {"phone": f"+4479111{n:05d}"}) for n in range(300)])
    receiver.status = 500
    deliver_due(30)
    assert WebhookAttempt.objects.filter(endpoint=endpoint).exists()
    response = admin_client.post(f"/admin/campaigns/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not WebhookEvent.objects.filter(endpoint_id=endpoint.pk).exists()
    assert not WebhookAttempt.objects.filter(endpoint_id=endpoint.pk).exists()
    assert WebhookEvent.objects.filter(endpoint=other).count() == 300  # the other endpoint's stay


def accepts(secret: str, request: tuple[dict, bytes]) -> bool:
    """Whether a receiver verifying with ``secret`` accepts this request (the standardwebhooks library)."""
    headers, body = request
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_during_a_rotation_either_secret_verifies_and_after_it_only_the_new_one(receiver, settings, caplog):
    settings.WEBHOOK_SECRET_ROTATION_HOURS = 24
    endpoint = endpoint_for(receiver.url)
    old = endpoint.secret
    some_events(1)
    deliver_due(30)
    assert accepts(old, receiver.requests[-1])

    caplog.set_level("DEBUG")
    rotated = rotate_endpoint_secret(endpoint.pk)
    new = rotated.secret
    assert new != old and new.startswith("whsec_")
    assert rotated.previous_secret_until - timezone.now() > timedelta(hours=23, minutes=59)
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert (stored.secret, stored.previous_secret) == (new, old)
    some_events(1)
    deliver_due(30)
    during = receiver.requests[-1]
    assert len(during[0]["webhook-signature"].split(" ")) == 2  # two signatures, the new one first
    assert accepts(old, during) and accepts(new, during)  # a receiver on either secret takes it
    assert not accepts(new_secret(), during)

    WebhookEndpoint.objects.update(previous_secret_until=timezone.now() - timedelta(seconds=1))  # grace over
    some_events(1)
    deliver_due(30)
    after = receiver.requests[-1]
    assert len(after[0]["webhook-signature"].split(" ")) == 1
    assert accepts(new, after) and not accepts(old, after)
    assert not any(new in r.getMessage() or old in r.getMessage() for r in caplog.records)  # never logged


def test_rotating_twice_within_the_grace_period_keeps_two_signatures_the_latest_two(receiver):
    endpoint = endpoint_for(receiver.url)
    first = endpoint.secret
    second = rotate_endpoint_secret(endpoint.pk).secret
    third = rotate_endpoint_secret(endpoint.pk).secret
    some_events(1)
    deliver_due(30)
    request = receiver.requests[-1]
    assert accepts(third, request) and accepts(second, request) and not accepts(first, request)


def test_an_array_of_events_is_signed_by_both_secrets_during_a_rotation(receiver):
    endpoint = endpoint_for(receiver.url)
    WebhookEndpoint.objects.update(events_per_request=10)
    old, new = endpoint.secret, rotate_endpoint_secret(endpoint.pk).secret
    some_events(5)
    deliver_due(30)
    [request] = receiver.requests
    assert accepts(old, request) and accepts(new, request) and len(json.loads(request[1])) == 5

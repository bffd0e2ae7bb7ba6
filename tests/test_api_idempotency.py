# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""The Idempotency-Key header on POST /message, POST /messages/bulk and PUT /messages/bulk/<id>:
a retry gets the first answer again and sends nothing twice."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone
from rq.cron import CronScheduler

from campaigns.api import idempotency, messages
from campaigns.api.idempotency import remove_expired_idempotency_keys
from campaigns.models import ApiKey, Campaign, IdempotentRequest, OutboundMessage
from campaigns.pipeline.batching import PENDING
from campaigns.pipeline.queueing import connection as redis_connection

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def message(channel, to: str = "+14155550123", text: str = "Your order shipped") -> dict:
    return {"provider": "sandbox", "channel_key": channel.channel_key, "to": to, "text": text}


def bulk(channel, numbers: list[str], text: str = "Sale today") -> dict:
    return {
        "provider": "sandbox",
        "channel_key": channel.channel_key,
        "recipients": [{"to": n} for n in numbers],
        "text": text,
    }


def post(client: Client, path: str, body: dict, apikey: str, key: str | None):
    headers = {"apikey": apikey, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def pending_sends() -> int:
    """Messages handed to the shared send list (one per accepted POST /message)."""
    return redis_connection().llen(PENDING)


def test_the_same_key_and_body_answer_the_first_answer_again_and_send_once(api_key, channel):
    client = Client()
    first = post(client, "/message", message(channel), api_key, "order-1001-shipped")
    again = post(client, "/message", message(channel), api_key, "order-1001-shipped")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert OutboundMessage.objects.count() == 1
    assert pending_sends() == 1  # and one send, not two


def test_without_a_key_two_requests_are_two_messages(api_key, channel):
    client = Client()
    post(client, "/message", message(channel), api_key, None)
    post(client, "/message", message(channel), api_key, None)
    assert OutboundMessage.objects.count() == 2


def test_a_retried_bulk_job_is_one_job(api_key, channel):
    client = Client()
    body = bulk(channel, ["+14155550123", "+14155550124"])
    first = post(client, "/messages/bulk", body, api_key, "newsletter-2026-12")
    again = post(client, "/messages/bulk/", body, api_key, "newsletter-2026-12")  # either slash
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert Campaign.objects.count() == 1


def test_a_retried_cancel_answers_as_the_first_did(api_key, channel):
    client = Client()
    body = {**bulk(channel, ["+14155550123"]), "schedule": (timezone.now() + timedelta(hours=1)).isoformat()}
    job_id = json.loads(post(client, "/messages/bulk", body, api_key, None).content)["data"]["job_id"]

    def cancel():
        return client.put(
            f"/messages/bulk/{job_id}",
            data=json.dumps({"cancel": True}),
            content_type="application/json",
            headers={"apikey": api_key, "Idempotency-Key": "cancel-sale"},
        )

    first, again = cancel(), cancel()
    assert first.status_code == again.status_code == 200  # not the 409 a second cancel gets
    assert again.content == first.content
    assert Campaign.objects.get(pk=job_id).status == Campaign.Status.CANCELLED


def test_the_same_key_with_another_body_is_a_422_naming_the_header(api_key, channel):
    client = Client()
    post(client, "/message", message(channel), api_key, "k-1")
    other = post(client, "/message", message(channel, text="Another text"), api_key, "k-1")
    assert other.status_code == 422
    assert json.loads(other.content)["errors"][0]["msg"].startswith("Idempotency-Key: this key was used")
    elsewhere = post(client, "/messages/bulk", bulk(channel, ["+14155550123"]), api_key, "k-1")
    assert elsewhere.status_code == 422  # another path is another request
    assert OutboundMessage.objects.count() == 1
    assert Campaign.objects.count() == 0


def test_keys_belong_to_their_api_key(api_key, channel):
    other_key = ApiKey.issue(get_user_model().objects.create_user("crm", is_staff=True), name="crm")[1]
    client = Client()
    mine = post(client, "/message", message(channel), api_key, "shared-key")
    theirs = post(client, "/message", message(channel, text="From the CRM"), other_key, "shared-key")
    assert mine.status_code == theirs.status_code == 200
    assert mine.content != theirs.content
    assert OutboundMessage.objects.count() == 2


@pytest.mark.parametrize(
    "key, says",
    [
        ("k" * 256, "Idempotency-Key: 256 characters; at most 255"),
        ("tab\there", "Idempotency-Key: character 4 (U+0009) is not printable ASCII"),
        ("caf\u00e9", "Idempotency-Key: character 4 (U+00E9) is not printable ASCII"),
        ("", "Idempotency-Key: the header is empty"),
    ],
)
def test_a_bad_key_is_a_400_naming_the_header(api_key, channel, key, says):
    response = post(Client(), "/message", message(channel), api_key, key)
    assert response.status_code == 400
    assert json.loads(response.content)["errors"][0]["msg"].startswith(says)
    assert OutboundMessage.objects.count() == 0


def test_the_insert_names_the_models_table():
    assert f"INSERT INTO {IdempotentRequest._meta.db_table} " in idempotency.INSERT_IF_NEW


def test_the_longest_key_is_taken(api_key, channel):
    key = "~ " + "k" * 253
    assert post(Client(), "/message", message(channel), api_key, key).status_code == 200
    assert IdempotentRequest.objects.get().key == key


def test_a_refused_request_keeps_no_answer_so_a_corrected_one_may_use_the_key(api_key, channel):
    client = Client()
    refused = post(client, "/message", message(channel, to="not a number"), api_key, "k-2")
    assert refused.status_code == 400
    assert not IdempotentRequest.objects.exists()
    assert post(client, "/message", message(channel), api_key, "k-2").status_code == 200


def test_a_request_that_failed_on_our_side_may_be_retried_with_its_key(api_key, channel, monkeypatch):
    real = messages.queue_message
    failures = iter([RuntimeError("the database went away")])

    def fails_once(*args, **kwargs):
        error = next(failures, None)
        if error:
            real(*args, **kwargs)  # the message row is written, then the request fails: all undone
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(messages, "queue_message", fails_once)
    client = Client()
    assert post(client, "/message", message(channel), api_key, "k-3").status_code == 500
    assert not OutboundMessage.objects.exists() and not IdempotentRequest.objects.exists()
    assert pending_sends() == 0
    assert post(client, "/message", message(channel), api_key, "k-3").status_code == 200
    assert OutboundMessage.objects.count() == 1


def test_keys_are_forgotten_after_24_hours(api_key, channel):
    client = Client()
    post(client, "/message", message(channel), api_key, "old")
    post(client, "/message", message(channel, to="+14155550124"), api_key, "fresh")
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    # An expired key is a new request even before the cleanup job has run...
    reused = post(client, "/message", message(channel, text="A new text"), api_key, "old")
    assert reused.status_code == 200
    assert OutboundMessage.objects.count() == 3
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    # ...and the hourly job removes it.
    assert remove_expired_idempotency_keys() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_cleanup_job_is_registered_to_run_every_hour():
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("messaging_site.cron")  # what `manage.py rqcron messaging_site.cron` does
    [job] = [job for job in scheduler.get_jobs() if job.func is remove_expired_idempotency_keys]
    assert (job.queue_name, job.interval) == ("default", 3600)


@pytest.fixture
def slow_send(monkeypatch):
    """POST /message takes a second inside its transaction, so two requests overlap."""
    real = messages.queue_message

    def slow(*args, **kwargs):
        sent = real(*args, **kwargs)
        time.sleep(1)
        return sent

    monkeypatch.setattr(messages, "queue_message", slow)


def side_by_side(api_key: str, body: dict, key: str) -> list:
    """Two clients' requests with one key, the second sent while the first is in progress."""
    answers: list = [None, None]

    def send(slot: int) -> None:
        try:
            answers[slot] = post(Client(), "/message", body, api_key, key)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
    threads[0].start()
    time.sleep(0.3)
    threads[1].start()
    for thread in threads:
        thread.join(30)
    return answers


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: SQLite serialises every write transaction, PostgreSQL does not")


def test_two_concurrent_requests_with_one_key_create_one_message(api_key, channel, slow_send):
    needs_postgresql()
    first, second = side_by_side(api_key, message(channel), "race-1")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content  # the second waited for the first's answer
    assert second["Idempotent-Replayed"] == "true"
    assert OutboundMessage.objects.count() == 1


def test_a_concurrent_request_that_waits_too_long_is_a_409_to_retry(api_key, channel, slow_send, monkeypatch):
    needs_postgresql()
    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST", "100ms")
    first, second = side_by_side(api_key, message(channel), "race-2")
    assert first.status_code == 200
    assert second.status_code == 409
    assert second["Retry-After"] == "1"
    assert json.loads(second.content)["errors"][0]["msg"].startswith("Idempotency-Key: a request with this key")
    assert OutboundMessage.objects.count() == 1
    again = post(Client(), "/message", message(channel), api_key, "race-2")
    assert again.content == first.content

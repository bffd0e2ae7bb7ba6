"""Webhooks keep the channel their token names for a few seconds (providers/webhook_channels.py),
and never a moment longer than a change to it: a new auth token or callback list counts at once."""

from __future__ import annotations

import django_rq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import RedisError

from campaigns.models import OutboundMessage
from providers import webhook_channels
from providers.models import Channel
from providers.webhook_channels import GENERATION_KEY, channel_for_webhook
from tests.test_twilio_webhooks import post_signed, status_params

Status = OutboundMessage.Status
SID = "SM" + "cd" * 16


@pytest.fixture(autouse=True)
def nothing_kept():
    webhook_channels._kept.clear()
    yield
    webhook_channels._kept.clear()


@pytest.fixture
def twilio(db) -> Channel:
    credentials = {"account_sid": "AC" + "0" * 32, "auth_token": "first-token"}
    return Channel.objects.create(name="Twilio kept", provider="twlo", sender="+15005550006", credentials=credentials)


def channel_queries(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if "providers_channel" in query["sql"]]


def test_a_second_lookup_is_answered_from_memory(twilio):
    with CaptureQueriesContext(connection) as captured:
        assert channel_for_webhook(twilio.webhook_token, ("twlo",)).pk == twilio.pk
        found = channel_for_webhook(twilio.webhook_token, ("twlo", "twlowa"))
    assert found.pk == twilio.pk and found.credentials["auth_token"] == "first-token"
    assert len(channel_queries(captured)) == 1


def test_another_providers_token_or_an_unknown_one_finds_nothing_and_is_not_kept(twilio):
    assert channel_for_webhook(twilio.webhook_token, ("gswa",)) is None
    assert channel_for_webhook("not-a-token", ("twlo",)) is None
    assert len(webhook_channels._kept) == 1  # the Twilio channel, found and kept; the made-up token not


def test_a_new_auth_token_counts_from_the_next_callback(client, twilio):
    message = OutboundMessage.objects.create(
        channel=twilio, to="+447911123456", status=Status.SENT, provider_message_id=SID
    )
    first = post_signed(client, twilio, "status", status_params("sent", sid=SID), token="first-token")
    assert first.status_code == 200
    twilio.enter_credentials({**twilio.credentials, "auth_token": "second-token"})
    twilio.save()
    old = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="first-token")
    assert old.status_code == 403
    new = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="second-token")
    assert new.status_code == 200
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


def test_a_change_another_process_commits_is_seen_through_the_generation(twilio):
    channel_for_webhook(twilio.webhook_token, ("twlo",))
    # Another process saved the channel without this one hearing its signal: it bumped the generation.
    Channel.objects.filter(pk=twilio.pk).update(callback_ips="203.0.113.7")
    assert channel_for_webhook(twilio.webhook_token, ("twlo",)).callback_ips == ""  # still the kept one
    django_rq.get_connection("default").incr(GENERATION_KEY)
    assert channel_for_webhook(twilio.webhook_token, ("twlo",)).callback_ips == "203.0.113.7"


def test_a_save_announces_itself_once_committed(twilio, django_capture_on_commit_callbacks):
    redis = django_rq.get_connection("default")
    before = int(redis.get(GENERATION_KEY) or 0)
    with django_capture_on_commit_callbacks(execute=True):
        twilio.callback_ips = "203.0.113.7"
        twilio.save()
        assert int(redis.get(GENERATION_KEY) or 0) == before  # not before the commit
    assert int(redis.get(GENERATION_KEY)) == before + 1


def test_a_deleted_channel_is_forgotten_at_once(twilio):
    token = twilio.webhook_token
    channel_for_webhook(token, ("twlo",))
    twilio.delete()
    assert channel_for_webhook(token, ("twlo",)) is None


def test_without_redis_every_lookup_asks_the_database(twilio, monkeypatch):
    class Down:
        def get(self, key):
            raise RedisError("down")

    monkeypatch.setattr(webhook_channels, "_redis", Down)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(2):
            assert channel_for_webhook(twilio.webhook_token, ("twlo",)).pk == twilio.pk
    assert len(channel_queries(captured)) == 2
    assert not webhook_channels._kept


def test_what_is_kept_runs_out(twilio, monkeypatch):
    channel_for_webhook(twilio.webhook_token, ("twlo",))
    Channel.objects.filter(pk=twilio.pk).update(callback_ips="203.0.113.7")  # no signal, no generation
    monkeypatch.setattr(webhook_channels.time, "monotonic", lambda: 1e12)
    assert channel_for_webhook(twilio.webhook_token, ("twlo",)).callback_ips == "203.0.113.7"


# On PostgreSQL Twilio's callbacks trust the kept channel without asking Redis, and their INSERT
# checks it in the same statement (webhook_channels.write_check). What SQLite's path does is above.
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the write's check is PostgreSQL's path")


class CountingRedis:
    """Redis as the cache sees it, every round trip counted."""

    def __init__(self):
        self.calls = 0
        self.redis = django_rq.get_connection("default")

    def get(self, key):
        self.calls += 1
        return self.redis.get(key)

    def incr(self, key):
        self.calls += 1
        return self.redis.incr(key)


@on_postgresql
def test_a_kept_channel_costs_a_callback_no_round_trip_to_redis(client, twilio, monkeypatch):
    message = OutboundMessage.objects.create(
        channel=twilio, to="+447911123456", status=Status.SENT, provider_message_id=SID
    )
    assert post_signed(client, twilio, "status", status_params("sent", sid=SID), token="first-token").status_code == 200
    counting = CountingRedis()
    monkeypatch.setattr(webhook_channels, "_redis", lambda: counting)
    response = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="first-token")
    assert response.status_code == 200
    assert counting.calls == 0
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


@on_postgresql
def test_a_new_auth_token_another_process_wrote_counts_from_the_next_callback(client, twilio):
    """Written without Channel.save (no signal, no generation): only the INSERT's own check can see it."""
    message = OutboundMessage.objects.create(
        channel=twilio, to="+447911123456", status=Status.SENT, provider_message_id=SID
    )
    assert post_signed(client, twilio, "status", status_params("sent", sid=SID), token="first-token").status_code == 200
    Channel.objects.filter(pk=twilio.pk).update(credentials={**twilio.credentials, "auth_token": "second-token"})
    old = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="first-token")
    assert old.status_code == 403
    message.refresh_from_db()
    assert message.status == Status.SENT  # the old token's callback wrote nothing
    new = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="second-token")
    assert new.status_code == 200
    message.refresh_from_db()
    assert message.status == Status.DELIVERED


@on_postgresql
def test_a_channel_another_process_deleted_is_not_written_for(client, twilio):
    from providers.models import ReceivedEvent

    path_token = twilio.webhook_token
    assert post_signed(client, twilio, "status", status_params("sent", sid=SID), token="first-token").status_code == 200
    with connection.cursor() as cursor:  # no signal: this process keeps the channel
        cursor.execute(f"DELETE FROM {Channel._meta.db_table} WHERE id = %s", [twilio.pk])
    assert webhook_channels._kept
    response = post_signed(client, twilio, "status", status_params("delivered", sid=SID), token="first-token")
    assert response.status_code == 404
    assert not ReceivedEvent.objects.filter(channel_id=twilio.pk).exists()
    assert channel_for_webhook(path_token, ("twlo",)) is None

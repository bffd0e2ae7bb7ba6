"""The API keeps the keys and channels it found for a few seconds (campaigns/api/auth.py,
providers/webhook_channels.py), and never a moment longer than a change made through the admin or
a save: a revoked key, a deactivated owner, a narrowed scope or a switched-off channel count from
the next request. A change made with a queryset update counts within API_KEY_CACHE_SECONDS."""

from __future__ import annotations

import json

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.api import auth
from campaigns.models import ApiKey, OutboundMessage
from messaging_site import plain_sql
from providers import webhook_channels
from providers.models import Channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keeping(settings):
    settings.API_KEY_CACHE_SECONDS = 10.0
    auth._kept.clear()
    webhook_channels._kept.clear()
    yield
    auth._kept.clear()
    webhook_channels._kept.clear()


@pytest.fixture
def channel() -> Channel:
    return Channel.objects.create(name="Sandbox", provider="sandbox", rate_limit=1000)


@pytest.fixture
def owner():
    return get_user_model().objects.create_user("shop", is_staff=True)


@pytest.fixture
def issued(owner) -> tuple[ApiKey, str]:
    return ApiKey.issue(owner, name="shop")


def post(raw: str, channel: Channel, to: str = "+14155550123"):
    body = {"provider": "sandbox", "channel_key": channel.channel_key, "to": to, "text": "Hi"}
    response = Client().post("/message", json.dumps(body), content_type="application/json", headers={"apikey": raw})
    return response.status_code, response.json()


def get(raw: str, message_id: int | str) -> int:
    return Client().get(f"/message/{message_id}", headers={"apikey": raw}).status_code


def queries_on(table: str, captured: CaptureQueriesContext) -> int:
    return sum(f'"{table}"' in query["sql"] or f" {table} " in query["sql"] for query in captured.captured_queries)


def test_a_second_request_reads_neither_key_nor_channel(issued, channel, monkeypatch):
    _, raw = issued
    assert post(raw, channel)[0] == 200
    plain = []  # PostgreSQL's INSERT goes on a plain psycopg cursor, which Django does not record
    execute = plain_sql.execute
    monkeypatch.setattr(
        plain_sql, "execute", lambda sql, *args, **kwargs: plain.append(sql) or execute(sql, *args, **kwargs)
    )
    with CaptureQueriesContext(connection) as captured:
        status, answer = post(raw, channel, to="+14155550124")
    assert status == 200, answer
    assert queries_on(ApiKey._meta.db_table, captured) == 0
    assert queries_on(Channel._meta.db_table, captured) == 0
    # What is left: the INSERT, which asks the suppression list and finds the contact itself.
    statements = [query["sql"] for query in captured.captured_queries] + plain
    assert len(statements) == 1, statements
    assert statements[0].startswith("INSERT")
    assert OutboundMessage.objects.filter(channel=channel).count() == 2


def test_a_key_revoked_in_the_admin_is_refused_at_the_next_request(issued, channel, admin_client):
    key, raw = issued
    assert post(raw, channel)[0] == 200
    response = admin_client.post(
        "/admin/campaigns/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    key.refresh_from_db()
    assert key.revoked_at is not None
    status, answer = post(raw, channel)
    assert status == 401 and "was revoked" in answer["errors"][0]["msg"]


def test_a_saved_change_to_the_key_or_its_owner_counts_at_once(issued, channel, owner):
    key, raw = issued
    assert post(raw, channel)[0] == 200
    key.revoked_at = timezone.now()
    key.save()
    assert post(raw, channel)[0] == 401

    _other, other_raw = ApiKey.issue(owner, name="second")
    assert post(other_raw, channel)[0] == 200
    owner.is_active = False
    owner.save()
    status, answer = post(other_raw, channel)
    assert status == 401 and "deactivated" in answer["errors"][0]["msg"]


def test_a_narrower_channel_scope_counts_at_once(issued, channel):
    key, raw = issued
    assert post(raw, channel)[0] == 200
    other = Channel.objects.create(name="Other", provider="sandbox")
    key.every_channel = False
    key.save()
    key.channels.add(channel)
    assert post(raw, channel)[0] == 200
    key.channels.set([other])  # m2m_changed: forgotten without a save of the key
    status, answer = post(raw, channel)
    assert status == 403 and "may not send on the channel 'Sandbox'" in answer["errors"][0]["msg"]


def test_a_switched_off_channel_counts_at_once(issued, channel):
    _, raw = issued
    assert post(raw, channel)[0] == 200
    channel.is_active = False
    channel.save()
    status, answer = post(raw, channel)
    assert status == 409 and "switched off" in answer["errors"][0]["msg"]


def test_another_process_change_is_seen_through_the_generation(issued, channel):
    key, raw = issued
    message_id = post(raw, channel)[1]["data"]["message_id"]
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())  # no signal here
    assert get(raw, message_id) == 200  # still the kept key, for at most API_KEY_CACHE_SECONDS
    django_rq.get_connection("default").incr(auth.GENERATION_KEY)  # another process announced it
    assert get(raw, message_id) == 401


def test_a_save_announces_itself_once_committed(issued, django_capture_on_commit_callbacks):
    key, _ = issued
    redis = django_rq.get_connection("default")
    before = int(redis.get(auth.GENERATION_KEY) or 0)
    with django_capture_on_commit_callbacks(execute=True):
        key.name = "renamed"
        key.save()
        assert int(redis.get(auth.GENERATION_KEY) or 0) == before  # not before the commit
    assert int(redis.get(auth.GENERATION_KEY)) == before + 1


def test_a_change_without_a_signal_counts_within_the_stated_time(issued, channel, monkeypatch):
    key, raw = issued
    message_id = post(raw, channel)[1]["data"]["message_id"]
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert get(raw, message_id) == 200
    later = auth.time.monotonic() + auth.settings.API_KEY_CACHE_SECONDS + 0.1
    monkeypatch.setattr(auth.time, "monotonic", lambda: later)
    assert get(raw, message_id) == 401


def test_unknown_keys_are_never_kept(issued, channel):
    for number in range(3):
        assert get(f"mk_{'x' * 40}{number}", 1) == 401
    assert not auth._kept


def test_without_redis_every_request_reads_its_key(issued, channel, monkeypatch):
    _key, raw = issued
    message_id = post(raw, channel)[1]["data"]["message_id"]
    auth._kept.clear()

    class Down:
        def __getattr__(self, name):
            raise auth.RedisError("down")

    monkeypatch.setattr(auth, "connection", Down)
    with CaptureQueriesContext(connection) as captured:
        assert get(raw, message_id) == 200
        assert get(raw, message_id) == 200
    assert queries_on(ApiKey._meta.db_table, captured) == 2
    assert not auth._kept


def test_a_kept_key_still_counts_its_rate(issued, channel, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    _, raw = issued
    message_id = post(raw, channel)[1]["data"]["message_id"]
    assert get(raw, message_id) == 200  # the second request of the minute, the key kept
    assert get(raw, message_id) == 429

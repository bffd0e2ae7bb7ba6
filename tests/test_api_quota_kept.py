"""The daily quota with API keys kept (campaigns/api/auth.py): POST /message's recipient is taken
at admission, in the round trip that counts the key's rate. Nothing is counted for a request
refused or replayed, and the 429 comes before the body is read."""

# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
from __future__ import annotations

import pytest

from campaigns.api import auth, quota
from campaigns.pipeline.queueing import connection as redis_connection
from tests.test_api_message import api_key, api_user, body, call, errors, key_row  # noqa: F401
from tests.test_api_quota import OVER, with_quota


@pytest.fixture(autouse=True)
def keeping(settings):
    settings.API_KEY_CACHE_SECONDS = 10.0
    auth._kept.clear()
    yield
    auth._kept.clear()


@pytest.fixture
def kept(call, key_row, channel):
    """The key kept, after one message (counted the usual way): with_quota before it."""

    def keep(quota_of: int) -> None:
        with_quota(key_row, quota_of)
        assert call("POST", "/message", body(channel, text="Hi"))[0] == 200

    return keep


def test_the_recipient_is_taken_with_the_rate(call, key_row, channel, kept, monkeypatch):
    kept(2)
    asked = []
    monkeypatch.setattr(quota, "take", lambda *args: asked.append(args))
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert asked == []  # no round trip of its own
    assert quota.used_today(key_row) == 2
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 429
    assert OVER.fullmatch(errors(answer)[0]).group("used", "asked") == ("2", "1")
    assert quota.used_today(key_row) == 2


def test_a_request_refused_after_admission_gives_its_recipient_back(call, key_row, channel, kept):
    kept(2)
    assert call("POST", "/message", body(channel, text="x" * 5000))[0] == 400
    assert call("POST", "/message", body(channel, to="+1415"))[0] == 400
    assert quota.used_today(key_row) == 1
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert quota.used_today(key_row) == 2


def test_a_replayed_request_counts_nothing(call, key_row, channel, kept):
    kept(3)
    first = call("POST", "/message", body(channel, text="Hi"), HTTP_IDEMPOTENCY_KEY="order-1")
    again = call("POST", "/message", body(channel, text="Hi"), HTTP_IDEMPOTENCY_KEY="order-1")
    assert first[0] == again[0] == 200 and first[1] == again[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert quota.used_today(key_row) == 2


def test_a_key_changed_since_it_was_kept_is_counted_on_its_new_quota(call, key_row, channel, kept):
    kept(1)
    key_row.refresh_from_db()
    key_row.daily_recipient_quota = 5
    key_row.save()  # through the model: every process forgets its kept keys
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert quota.used_today(key_row) == 2


def test_over_the_quota_is_a_429_before_the_body_is_read(call, key_row, channel, kept):
    kept(1)
    status, answer, _ = call("POST", "/message", body(channel, text="x" * 5000))
    assert status == 429 and OVER.fullmatch(errors(answer)[0])
    assert quota.used_today(key_row) == 1


def test_a_redis_that_lost_the_script_is_sent_it_again(call, key_row, channel, kept):
    """ADMIT runs by its hash; a Redis restarted (or a new one) does not know it yet."""
    kept(2)
    redis_connection().script_flush()
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert quota.used_today(key_row) == 2

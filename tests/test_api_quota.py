"""A daily recipient quota per API key: counted per UTC day in Redis, refused whole with a 429."""

# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from campaigns.api import quota
from campaigns.api.http import ApiError
from campaigns.models import ApiKey, Campaign, OutboundMessage

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user, body, call, errors, key_row  # noqa: F401

pytestmark = pytest.mark.django_db
OVER = re.compile(
    r"daily_recipient_quota: this key may send to (?P<quota>[\d,]+) recipients a day \(UTC\); (?P<used>[\d,]+) "
    r"are counted today and this request has (?P<asked>[\d,]+)\. "
    r"The quota resets at (?P<reset>\S+Z) \(in \d+ h \d\d min\)\."
)


def bulk(channel, count: int, **fields) -> dict:
    recipients = [{"to": f"+1415555{n:04d}"} for n in range(count)]
    return {
        "provider": channel.provider,
        "channel_key": channel.channel_key,
        "recipients": recipients,
        "text": "Hi",
    } | fields


def with_quota(key: ApiKey, recipients: int | None) -> None:
    ApiKey.objects.filter(pk=key.pk).update(daily_recipient_quota=recipients)


def test_a_message_over_the_quota_is_429_naming_the_quota_and_the_reset(call, key_row, channel):
    with_quota(key_row, 2)
    assert call("POST", "/message", body(channel, text="1"))[0] == 200
    assert call("POST", "/message", body(channel, text="2"))[0] == 200
    status, answer, response = call("POST", "/message", body(channel, text="3"))

    assert status == 429
    found = OVER.fullmatch(errors(answer)[0])
    assert found, errors(answer)
    assert (found["quota"], found["used"], found["asked"]) == ("2", "2", "1")
    reset = datetime.fromisoformat(found["reset"])
    now = datetime.now(UTC)
    assert reset == now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert 0 < int(response["Retry-After"]) <= (reset - now).total_seconds() + 1
    assert OutboundMessage.objects.count() == 2


def test_a_bulk_job_counts_its_recipients_and_one_that_would_go_over_is_refused_whole(call, key_row, channel):
    with_quota(key_row, 100)
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, 60))
    assert status == 200, answer
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, 41))
    assert status == 429
    assert "60 are counted today and this request has 41" in errors(answer)[0]
    assert Campaign.objects.count() == 1  # nothing of the refused job is saved

    assert call("POST", "/messages/bulk", bulk(channel, 40))[0] == 200  # what is left still fits
    assert call("POST", "/message", body(channel, text="one more"))[0] == 429


def test_duplicates_dropped_are_not_counted(call, key_row, channel):
    with_quota(key_row, 1)
    twice = {"recipients": [{"to": "+14155550123"}, {"to": "14155550123"}]}
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, 1) | twice)
    assert status == 200, answer
    assert answer["data"]["recipient_count"] == 1


def test_the_setting_is_the_default_and_zero_means_no_quota(call, key_row, channel, settings):
    settings.API_DAILY_RECIPIENT_QUOTA = 3
    assert call("POST", "/messages/bulk", bulk(channel, 3))[0] == 200
    status, answer, _ = call("POST", "/message", body(channel, text="Hi"))
    assert status == 429 and "may send to 3 recipients a day" in errors(answer)[0]

    with_quota(key_row, 10)  # the key's own quota wins over the setting
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200

    with_quota(key_row, None)
    settings.API_DAILY_RECIPIENT_QUOTA = 0
    assert call("POST", "/messages/bulk", bulk(channel, 50))[0] == 200


def test_each_key_has_its_own_quota(call, key_row, channel, api_user):
    with_quota(key_row, 1)
    other = ApiKey.issue(api_user, name="other", daily_recipient_quota=1)[1]
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 429
    assert call("POST", "/message", body(channel, text="Hi"), key=other)[0] == 200


def test_a_refused_request_counts_nothing(call, key_row, channel):
    with_quota(key_row, 1)
    assert call("POST", "/message", body(channel, text="x" * 5000))[0] == 400
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200


def test_a_request_that_fails_after_counting_gives_its_recipients_back(call, key_row, channel, monkeypatch):
    with_quota(key_row, 5)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Campaign.objects, "create", broken)
    assert call("POST", "/messages/bulk", bulk(channel, 5))[0] == 500
    monkeypatch.undo()
    assert call("POST", "/messages/bulk", bulk(channel, 5))[0] == 200


def test_concurrent_requests_never_take_more_than_the_quota(key_row):
    """Forty threads race for a quota of 25, one recipient each: exactly 25 win."""
    with_quota(key_row, 25)
    key_row.refresh_from_db()
    start = threading.Barrier(40)
    outcomes: list[int] = []

    def one() -> None:
        start.wait()
        try:
            with quota.counted_against_quota(key_row, 1):
                outcomes.append(200)
        except ApiError as refused:
            outcomes.append(refused.status)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [200] * 25 + [429] * 15
    assert quota.used_today(key_row) == 25


def test_the_day_is_the_utc_day():
    late_in_tokyo = datetime(2026, 12, 7, 8, 30, tzinfo=timezone(timedelta(hours=9)))  # 23:30 UTC the 6th
    assert quota.next_reset(late_in_tokyo) == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    key = ApiKey(pk=7)
    assert quota.counter_name(key, late_in_tokyo) == "api:quota:7:20261206"
    assert quota.counter_name(key, late_in_tokyo + timedelta(hours=1)) == "api:quota:7:20261207"


def test_the_count_starts_again_the_next_utc_day(call, key_row, channel, monkeypatch):
    with_quota(key_row, 1)
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 429
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    class Tomorrow(datetime):
        @classmethod
        def now(cls, tz=None):
            return tomorrow

    monkeypatch.setattr(quota, "datetime", Tomorrow)
    assert call("POST", "/message", body(channel, text="Hi"))[0] == 200

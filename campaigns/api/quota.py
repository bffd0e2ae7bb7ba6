"""A daily recipient quota per API key, counted in Redis per UTC day.

POST /message counts one recipient, POST /messages/bulk its recipients (after duplicates are
dropped). A request that would go over the quota is refused whole with a 429 naming the quota and
when it resets (midnight UTC), and counts nothing. The check and the count are one Lua script, so
concurrent requests can never take more than the quota together, at one Redis round trip a request.
A POST /message with a kept key has its recipient taken before its body is read, in the round trip
that counts the key's rate (campaigns/api/auth.py ADMIT, the same check and count as TAKE).

Redis is a work queue, not the source of truth: if it is down the request goes through (logged),
as with the per-minute rate; if it is flushed, the day's count starts again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from redis.exceptions import RedisError

from campaigns.api.http import ApiError
from campaigns.models import ApiKey
from campaigns.pipeline.queueing import connection

log = logging.getLogger(__name__)

# Returns {1, count after} when n more fit in the quota (and counts them), {0, count} when not.
TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local wanted = tonumber(ARGV[1])
if used + wanted > tonumber(ARGV[2]) then
    return {0, used}
end
local now = redis.call('INCRBY', KEYS[1], wanted)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, now}
"""
# The counter outlives its day by an hour, so a clock a little behind still finds it.
KEEP_AFTER_DAY = timedelta(hours=1)


@cache
def take_script():
    """The script, loaded into Redis on first use and run by its hash afterwards."""
    return connection().register_script(TAKE)


def next_reset(now: datetime) -> datetime:
    """The next midnight UTC, when every key's count starts again."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def counter_name(api_key: ApiKey, now: datetime) -> str:
    return f"api:quota:{api_key.pk}:{now.astimezone(UTC):%Y%m%d}"


@dataclass(frozen=True)
class Taken:
    """Recipients counted on a day's counter."""

    counter: str
    recipients: int


@dataclass(frozen=True)
class Ask:
    """Recipients to count at admission (auth.ADMIT), for a key kept under ``generation``."""

    taken: Taken
    quota: int
    keep_seconds: int
    generation: bytes
    now: datetime

    @classmethod
    def of(cls, api_key: ApiKey, generation: bytes, recipients: int) -> Ask | None:
        quota = api_key.recipient_quota
        if not quota:
            return None
        now = datetime.now(UTC)
        keep = int((next_reset(now) - now + KEEP_AFTER_DAY).total_seconds())
        return cls(Taken(counter_name(api_key, now), recipients), quota, keep, generation, now)

    def arguments(self) -> list:
        return [self.generation, self.taken.recipients, self.quota, self.keep_seconds]

    def refused(self, used: int) -> ApiError:
        return over_quota(self.quota, used, self.taken.recipients, self.now, next_reset(self.now))


def give_back_unused(api_key: ApiKey) -> None:
    """Give back what admission took for a request that did not use it (refused, or replayed)."""
    taken = getattr(api_key, "quota_taken", None)
    if taken is not None:
        api_key.quota_taken = None
        give_back(taken.counter, taken.recipients)


@contextmanager
def counted_against_quota(api_key: ApiKey, recipients: int) -> Iterator[None]:
    """Take ``recipients`` from the key's quota for today, or answer 429; give them back if the
    request then fails, so only what was accepted counts. Recipients taken at admission are used
    as they are."""
    taken = getattr(api_key, "quota_taken", None)
    if taken is not None and taken.recipients == recipients:
        api_key.quota_taken = None  # used: the endpoint has nothing to give back
        try:
            yield
        except BaseException:
            give_back(taken.counter, recipients)
            raise
        return
    quota = api_key.recipient_quota
    if not quota:
        yield
        return
    now = datetime.now(UTC)
    counter = counter_name(api_key, now)
    if not take(counter, recipients, quota, now):
        yield  # Redis is down: the request goes through
        return
    try:
        yield
    except BaseException:
        give_back(counter, recipients)
        raise


def take(counter: str, recipients: int, quota: int, now: datetime) -> bool:
    """Count the recipients (True), or raise the 429; False when Redis could not be asked."""
    reset = next_reset(now)
    keep = int((reset - now + KEEP_AFTER_DAY).total_seconds())
    try:
        taken, used = take_script()(keys=[counter], args=[recipients, quota, keep])
    except RedisError:
        log.warning("API daily recipient quota not checked: Redis is unavailable", exc_info=True)
        return False
    if not taken:
        raise over_quota(quota, int(used), recipients, now, reset)
    return True


def give_back(counter: str, recipients: int) -> None:
    try:
        connection().decrby(counter, recipients)
    except RedisError:
        log.warning("API daily recipient quota: %s recipients not given back, Redis is unavailable", recipients)


def over_quota(quota: int, used: int, recipients: int, now: datetime, reset: datetime) -> ApiError:
    wait = max(1, int((reset - now).total_seconds() + 0.999))
    hours, minutes = divmod((wait + 59) // 60, 60)
    return ApiError(
        429,
        [
            f"daily_recipient_quota: this key may send to {quota:,} recipients a day (UTC); {used:,} are counted "
            f"today and this request has {recipients:,}. The quota resets at {reset:%Y-%m-%dT%H:%M:%SZ} "
            f"(in {hours} h {minutes:02d} min)."
        ],
        {"Retry-After": str(wait)},
    )


def used_today(api_key: ApiKey) -> int | None:
    """Recipients counted for the key today (UTC), for its admin page; None if Redis cannot say."""
    try:
        return int(connection().get(counter_name(api_key, datetime.now(UTC))) or 0)
    except RedisError:
        return None

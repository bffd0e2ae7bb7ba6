"""API keys in the ``apikey`` header, and a per-key request rate counted in Redis.

Each web process keeps the keys it found (with their owner and channel scope) for at most
settings.API_KEY_CACHE_SECONDS (10 s): reading a key was a query, a third of a GET /message's cost (bench/receipts.py).
A key saved or deleted, its channels or lists changed, its owner saved or deleted, or keys revoked
through the admin's action, bumps a generation number in Redis once the change commits; every
request reads that number (with the channels' one, and the rate counter's increment, in one
round trip) and trusts only what it kept under the same one. So a revoked key is refused from
the next request on; a change made some other way (a queryset update in a shell) counts within
API_KEY_CACHE_SECONDS. Without Redis nothing kept is trusted. An unknown key is never kept, so made-up
keys cannot grow the cache.

That one round trip is a Lua script (ADMIT), which for POST /message also takes the request's
recipient from the key's daily quota (campaigns/api/quota.py) when the key was kept and Redis
still holds the generation it was kept under: a POST made three round trips to Redis, now two
(bench/receipts.py). So a request over the quota is a 429 before its body is read, and one that
is then refused, or replayed (Idempotency-Key), gives its recipient back (campaigns/api/http.py).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import NoScriptError, RedisError

from campaigns.api import quota
from campaigns.api.http import ApiError
from campaigns.api.scope import allowed_channel_ids
from campaigns.models import ApiKey
from campaigns.pipeline.queueing import connection
from providers import webhook_channels

log = logging.getLogger(__name__)

# last_used_at is for staff to see which keys are alive: minute precision is plenty, and it saves
# a database write on every request.
LAST_USED_PRECISION = timedelta(minutes=1)
UNKNOWN_KEY = "apikey: this key is not known."
# Of the key's user, what authenticate checks and send_one writes as the sender: every request
# reads the key, and the user's other columns (its password hash among them) are never needed.
USER_FIELDS = ("user__is_active", "user__is_staff", "user__is_superuser", "user__username")
MAX_KEPT = 1_000  # keys one process keeps; past it, it starts again
GENERATION_KEY = "api:keys:generation"


# KEYS: the keys' and channels' generations, then the key's rate counter and its quota counter
# when asked. ARGV: the rate limit, then the kept key's generation, the recipients, the quota and
# how long the quota counter lives. The quota is taken only when the key's generation is still the
# kept one and the rate is not exceeded. Returns {keys' generation, channels' generation, the rate
# count, quota: 1 taken / 0 over it / -1 not asked, the quota counted before}.
ADMIT = """
local generations = redis.call('MGET', KEYS[1], KEYS[2])
if not KEYS[3] then
    return {generations[1], generations[2], false, -1, 0}
end
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 61)
if not KEYS[4] or count > tonumber(ARGV[1]) or (generations[1] or '0') ~= ARGV[2] then
    return {generations[1], generations[2], count, -1, 0}
end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local wanted = tonumber(ARGV[3])
if used + wanted > tonumber(ARGV[4]) then
    return {generations[1], generations[2], count, 0, used}
end
redis.call('INCRBY', KEYS[4], wanted)
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[5]))
return {generations[1], generations[2], count, 1, used}
"""


ADMIT_SHA = hashlib.sha1(ADMIT.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


def run_admit(keys: list[str], args: list) -> list:
    """ADMIT by its hash; sent whole when this Redis does not have it yet (a restart, a new server)."""
    redis = connection()
    try:
        return redis.evalsha(ADMIT_SHA, len(keys), *keys, *args)
    except NoScriptError:
        return redis.eval(ADMIT, len(keys), *keys, *args)


@dataclass
class _Kept:
    key: ApiKey
    generation: bytes
    until: float


_kept: dict[str, _Kept] = {}


@dataclass
class Admission:
    """What one round trip to Redis said at the start of a request."""

    keys_generation: bytes | None  # None: Redis is down, nothing kept is trusted
    channels_generation: bytes | None
    rate_count: int | None  # this request's number in the key's minute, when it was counted
    quota_taken: int = -1  # 1: the recipients were counted, 0: they would go over the quota, -1: not asked
    quota_used: int = 0  # recipients counted today before this request


def admit(request: HttpRequest, recipients: int = 0) -> ApiKey:
    """The live key named by the ``apikey`` header, counted against its rate; or a 401 / 429.

    ``recipients``: what the request will count against the key's daily quota, taken here with a
    kept key (key.quota_taken says so; whoever does not use it gives it back)."""
    raw = request.headers.get("apikey", "").strip()
    if not raw:
        raise ApiError(401, ["apikey: the header is missing; send your API key in the 'apikey' header."])
    key_hash = ApiKey.hash(raw)
    kept = _kept.get(key_hash)
    # A key's id never changes, so a kept one's count is right even when the key itself changed.
    asked = quota.Ask.of(kept.key, kept.generation, recipients) if kept is not None and recipients else None
    admission = read_generations(rate_of=kept.key.pk if kept is not None else None, quota_asked=asked)
    key = kept_key(kept, admission.keys_generation)
    if key is None:
        key = read_key(key_hash, admission.keys_generation)
    key.quota_taken = asked.taken if admission.quota_taken == 1 else None
    try:
        check_key(key)
        key.channels_generation = admission.channels_generation
        touch(key)
        check_rate(key, admission.rate_count)
        if admission.quota_taken == 0:
            raise asked.refused(admission.quota_used)
    except BaseException:
        quota.give_back_unused(key)
        raise
    return key


def read_generations(rate_of: int | None, quota_asked: quota.Ask | None = None) -> Admission:
    """The keys' and channels' generations, and the rate counter of key ``rate_of`` counted (and
    the quota asked taken, when the keys' generation is still the one it was asked under)."""
    now = time.time()
    keys = [GENERATION_KEY, webhook_channels.GENERATION_KEY]
    args = [settings.API_RATE_LIMIT_PER_MINUTE]
    if rate_of is not None:
        keys.append(rate_counter(rate_of, now))
        if quota_asked is not None:
            keys.append(quota_asked.taken.counter)
            args.extend(quota_asked.arguments())
    try:
        keys_generation, channels_generation, rate_count, taken, used = run_admit(keys, args)
    except RedisError:
        log.warning("API keys read from the database, rate not checked: Redis is unavailable", exc_info=True)
        return Admission(None, None, None)
    return Admission(
        keys_generation or b"0", webhook_channels.read_generation(channels_generation), rate_count, taken, used
    )


def kept_key(kept: _Kept | None, generation: bytes | None) -> ApiKey | None:
    if kept is None or generation is None or kept.generation != generation or time.monotonic() >= kept.until:
        return None
    return copy.copy(kept.key)  # the request may set attributes on it; the kept one stays as read


def read_key(key_hash: str, generation: bytes | None) -> ApiKey:
    """The key from the database, kept when Redis could say its generation; or a 401."""
    keys = ApiKey.objects.select_related("user").only(*[f.name for f in ApiKey._meta.concrete_fields], *USER_FIELDS)
    key = keys.filter(key_hash=key_hash).first()
    if key is None:
        raise ApiError(401, [UNKNOWN_KEY])
    if not key.every_channel:
        allowed_channel_ids(key)  # a limited key's channels: read now, kept with it
    if generation is not None and settings.API_KEY_CACHE_SECONDS > 0:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key_hash] = _Kept(copy.copy(key), generation, time.monotonic() + settings.API_KEY_CACHE_SECONDS)
    return key


def check_key(key: ApiKey) -> None:
    # Never echo the key back: it may be a real key pasted in the wrong place. An expired key
    # answers exactly as an unknown one: whoever holds an old key learns nothing from it.
    if key.is_expired():
        raise ApiError(401, [UNKNOWN_KEY])
    if key.revoked_at is not None:
        raise ApiError(401, [f"apikey: the key {key.prefix}… was revoked."])
    if not key.user.is_active:
        raise ApiError(401, [f"apikey: the key {key.prefix}… belongs to a deactivated user."])
    if not key.user.is_staff:
        raise ApiError(401, [f"apikey: the key {key.prefix}… belongs to a user who is no longer staff."])


def touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        kept = _kept.get(key.key_hash)
        if kept is not None:
            kept.key.last_used_at = now  # else every later request would write it again


def rate_counter(key_id: int, now: float) -> str:
    return f"api:rate:{key_id}:{int(now // 60)}"


def check_rate(key: ApiKey, count: int | None = None) -> None:
    """Count this request in the key's current minute (unless ``count`` says it was); over the
    limit is a 429 with Retry-After.

    A fixed one-minute window: one Redis round trip per request, shared with reading the keys'
    generation when the key was kept. If Redis is down the request goes through (the database,
    not Redis, is what must not be lost) and the failure is logged.
    """
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    now = time.time()
    if count is None:
        counter = rate_counter(key.pk, now)
        try:
            pipe = connection().pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, 61)
            count = pipe.execute()[0]
        except RedisError:
            log.warning("API rate limit not checked: Redis is unavailable", exc_info=True)
            return
    if count > limit:
        window = int(now // 60)
        retry_after = max(1, int((window + 1) * 60 - now + 0.999))
        raise ApiError(
            429,
            [f"Too many requests: this key may make {limit} requests a minute; retry in {retry_after} s."],
            {"Retry-After": str(retry_after)},
        )


def forget_keys(sender=None, **kwargs) -> None:
    """A key, its scope or its owner changed: this process forgets now, every process once it commits."""
    _kept.clear()
    transaction.on_commit(_bump_generation)


def _bump_generation() -> None:
    _kept.clear()
    try:
        connection().incr(GENERATION_KEY)
    except RedisError:
        log.warning("API key change not announced: Redis is unavailable (other processes catch up within %s s)",
                    settings.API_KEY_CACHE_SECONDS, exc_info=True)  # fmt: skip

"""API keys in the ``apikey`` header, and a per-key request rate counted in Redis."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import RedisError

from campaigns.api.http import ApiError
from campaigns.models import ApiKey
from campaigns.pipeline.queueing import connection

log = logging.getLogger(__name__)

# last_used_at is for staff to see which keys are alive: minute precision is plenty, and it saves
# a database write on every request.
LAST_USED_PRECISION = timedelta(minutes=1)
UNKNOWN_KEY = "apikey: this key is not known."
# Of the key's user, what authenticate checks and send_one writes as the sender: every request
# reads the key, and the user's other columns (its password hash among them) are never needed.
USER_FIELDS = ("user__is_active", "user__is_staff", "user__username")


def authenticate(request: HttpRequest) -> ApiKey:
    """The live key named by the ``apikey`` header, or a 401."""
    raw = request.headers.get("apikey", "").strip()
    if not raw:
        raise ApiError(401, ["apikey: the header is missing; send your API key in the 'apikey' header."])
    keys = ApiKey.objects.select_related("user").only(*[f.name for f in ApiKey._meta.concrete_fields], *USER_FIELDS)
    key = keys.filter(key_hash=ApiKey.hash(raw)).first()
    # Never echo the key back: it may be a real key pasted in the wrong place. An expired key
    # answers exactly as an unknown one: whoever holds an old key learns nothing from it.
    if key is None or key.is_expired():
        raise ApiError(401, [UNKNOWN_KEY])
    if key.revoked_at is not None:
        raise ApiError(401, [f"apikey: the key {key.prefix}… was revoked."])
    if not key.user.is_active:
        raise ApiError(401, [f"apikey: the key {key.prefix}… belongs to a deactivated user."])
    if not key.user.is_staff:
        raise ApiError(401, [f"apikey: the key {key.prefix}… belongs to a user who is no longer staff."])
    touch(key)
    return key


def touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def check_rate(key: ApiKey) -> None:
    """Count this request in the key's current minute; over the limit is a 429 with Retry-After.

    A fixed one-minute window: one Redis round trip per request. If Redis is down the request
    goes through (the database, not Redis, is what must not be lost) and the failure is logged.
    """
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    now = time.time()
    window = int(now // 60)
    counter = f"api:rate:{key.pk}:{window}"
    try:
        pipe = connection().pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, 61)
        count = pipe.execute()[0]
    except RedisError:
        log.warning("API rate limit not checked: Redis is unavailable", exc_info=True)
        return
    if count > limit:
        retry_after = max(1, int((window + 1) * 60 - now + 0.999))
        raise ApiError(
            429,
            [f"Too many requests: this key may make {limit} requests a minute; retry in {retry_after} s."],
            {"Retry-After": str(retry_after)},
        )

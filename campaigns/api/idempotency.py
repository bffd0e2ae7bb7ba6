"""The Idempotency-Key header: a client may retry a request safely, and nothing is sent twice.

A request that names a key is handled in one transaction with a row for (API key, idempotency
key): the row is inserted first, the request's effects follow, and its answer is written into
the row before the commit. So the row and its answer exist exactly when the effects do:

- a retry of the same request (method, path and body byte for byte) within 24 hours gets the
  stored answer again, with ``Idempotent-Replayed: true``, and does nothing;
- the same key on another request is a 422 naming the header;
- a request refused (4xx) or failed (5xx), or one whose transaction never committed, leaves no
  row: the same key may be sent again, with the same body or a corrected one;
- of two concurrent requests with one key, the second's INSERT waits on the unique constraint
  until the first commits (then it gets the first's answer) or rolls back (then it goes ahead).
  It waits at most WAIT_FOR_FIRST; after that it is a 409 "in progress, retry" with Retry-After,
  as Stripe answers a concurrent request. On SQLite, writes are serialised anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.db import OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from campaigns.api.http import JSON_TYPE, ApiError
from campaigns.api.validation import read_body
from campaigns.models import ApiKey, IdempotentRequest
from messaging_site.logs import logged_job

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
# How long a request waits for a concurrent one with the same key to finish before its 409.
WAIT_FOR_FIRST = "5s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_timeout
# PostgreSQL and SQLite (3.35+) alike; the table is IdempotentRequest's (a test holds them together).
INSERT_IF_NEW = (
    "INSERT INTO campaigns_idempotentrequest (api_key_id, key, fingerprint, body, created_at) "
    "VALUES (%s, %s, %s, '', %s) ON CONFLICT (api_key_id, key) DO NOTHING RETURNING id"
)


class Refused(Exception):
    """The handler answered without success: roll its transaction back, answer as it did."""

    def __init__(self, response: HttpResponse):
        super().__init__(response.status_code)
        self.response = response


def idempotent(body_limit: int) -> Callable:
    """Honour an Idempotency-Key header on this API handler (which reads a body of ``body_limit``)."""

    def decorate(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(handler)
        def view(request: HttpRequest, api_key: ApiKey, **kwargs) -> HttpResponse:
            key = idempotency_key(request)
            if key is None:
                return handler(request, api_key, **kwargs)
            fingerprint = fingerprint_of(request, body_limit)
            try:
                with transaction.atomic():
                    record = claim(api_key, key, fingerprint)
                    if record.status_code is not None:
                        return replayed(record)
                    response = handler(request, api_key, **kwargs)
                    keep(record, response)
                    return response
            except Refused as refused:
                return refused.response

        return view

    return decorate


def idempotency_key(request: HttpRequest) -> str | None:
    """The header's value, None without one, or a 400 naming what is wrong with it."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key:
        raise ApiError(400, [f"{HEADER}: the header is empty; send 1 to {MAX_LENGTH} printable ASCII characters."])
    if len(key) > MAX_LENGTH:
        raise ApiError(400, [f"{HEADER}: {len(key):,} characters; at most {MAX_LENGTH} are accepted."])
    for position, character in enumerate(key):
        if not " " <= character <= "~":
            raise ApiError(
                400,
                [
                    f"{HEADER}: character {position + 1} (U+{ord(character):04X}) is not printable ASCII; "
                    "use letters, digits and punctuation, such as a UUID."
                ],
            )
    return key


def fingerprint_of(request: HttpRequest, body_limit: int) -> str:
    """What makes two requests "the same": method, path (either slash) and the body's bytes."""
    digest = hashlib.sha256(f"{request.method} {request.path.rstrip('/')}\n".encode())
    digest.update(read_body(request, body_limit))
    return digest.hexdigest()


def claim(api_key: ApiKey, key: str, fingerprint: str) -> IdempotentRequest:
    """This request's new row (no answer yet), or the committed first request's, with its answer."""
    bound_the_wait()
    for _ in range(3):  # a row found expired or just removed: insert again
        try:
            inserted = insert_if_new(api_key, key, fingerprint)
        except OperationalError as error:
            if is_lock_timeout(error):
                raise in_progress() from None
            raise
        if inserted is not None:
            return IdempotentRequest(pk=inserted, api_key=api_key, key=key, fingerprint=fingerprint)
        first = IdempotentRequest.objects.filter(api_key=api_key, key=key).first()
        if first is None:
            continue
        if first.is_expired():
            first.delete()
            continue
        if first.fingerprint != fingerprint:
            raise ApiError(
                422,
                [
                    f"{HEADER}: this key was used in the last 24 hours for a different request (method, path or "
                    "body); send a new key for a new request, or the first request's exact body to retry it."
                ],
            )
        return first
    raise in_progress()


def insert_if_new(api_key: ApiKey, key: str, fingerprint: str) -> int | None:
    """The new row's id, or None when the key is taken (by a committed request: a concurrent one's
    INSERT is waited for). One statement, and no savepoint to recover from an IntegrityError."""
    with connection.cursor() as cursor:
        cursor.execute(INSERT_IF_NEW, [api_key.pk, key, fingerprint, timezone.now()])
        row = cursor.fetchone()
    return row[0] if row else None


def bound_the_wait() -> None:
    """On PostgreSQL, wait at most WAIT_FOR_FIRST for a concurrent request with the same key.

    SET LOCAL lasts to the end of the transaction, so the request's own statements are bounded
    too: a lock held that long is a fault, answered 500 with nothing kept, and safe to retry.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{WAIT_FOR_FIRST}'")


def is_lock_timeout(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE


def in_progress() -> ApiError:
    return ApiError(
        409,
        [f"{HEADER}: a request with this key is still in progress; retry in a moment to get its answer."],
        {"Retry-After": "1"},
    )


def keep(record: IdempotentRequest, response: HttpResponse) -> None:
    """Store a successful answer with the effects; anything else undoes them and stores nothing."""
    if not 200 <= response.status_code < 300:
        raise Refused(response)
    record.status_code = response.status_code
    record.body = response.content.decode()
    IdempotentRequest.objects.filter(pk=record.pk).update(status_code=record.status_code, body=record.body)


def replayed(record: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(record.body, status=record.status_code, content_type=JSON_TYPE)
    response["Idempotent-Replayed"] = "true"
    return response


@logged_job("remove_expired_idempotency_keys")
def remove_expired_idempotency_keys() -> int:
    """Hourly (messaging_site/cron.py): forget keys older than 24 hours, in one DELETE."""
    return IdempotentRequest.remove_expired()

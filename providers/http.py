"""The one way provider code talks HTTP: pooled connections, timeouts, redacted logs, classified errors.

Every provider call goes through ``request``. It never raises for an HTTP status: the provider
class reads the status and body and decides. It raises only for transport failures, split by
whether the request can have reached the provider:

- ``NotSent``: the connection was never made (DNS, refused, connect timeout). Safe to retry.
- ``NoAnswer``: the request may have been delivered but no answer came (read timeout, reset).
  The provider may have acted on it: the message's outcome is unknown.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

log = logging.getLogger("providers.http")
_local = threading.local()

# A credential-looking name, then = or :, then its value (form bodies, JSON, headers).
CREDENTIAL_VALUE = re.compile(
    r"""(?i)((?:apikey|api_key|auth_?token|password|pass|token|secret|authorization)['"]?\s*[:=]\s*['"]?)([^'"&,\s}]+)"""
)


class TransportError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotSent(TransportError):
    """The request never left: retrying cannot duplicate anything."""


class NoAnswer(TransportError):
    """The request may have reached the provider; we do not know what it did."""


def session() -> requests.Session:
    """A pooled session per thread (requests.Session is not thread-safe to share)."""
    current = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=32, max_retries=0)
        current.mount("http://", adapter)
        current.mount("https://", adapter)
        _local.session = current
    return current


def request(
    method: str,
    url: str,
    *,
    secrets: Iterable[str] = (),
    timeout: tuple[float, float] | None = None,
    **kwargs,
) -> requests.Response:
    """Send one request; log it with every value in ``secrets`` (and credential-looking fields) hidden."""
    timeout = timeout or (settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT)
    hidden = [s for s in secrets if s]
    started = time.monotonic()
    try:
        response = session().request(method, url, timeout=timeout, **kwargs)
    except (requests.exceptions.ConnectTimeout, requests.exceptions.ConnectionError) as error:
        if isinstance(error, requests.exceptions.ConnectTimeout) or _never_connected(error):
            raise NotSent(redact(f"could not connect to {url}: {error}", hidden)) from None
        raise NoAnswer(redact(f"connection to {url} broke before an answer: {error}", hidden)) from None
    except requests.exceptions.ReadTimeout:
        raise NoAnswer(redact(f"no answer from {url} within {timeout[1]} s", hidden)) from None
    except requests.exceptions.RequestException as error:
        raise NotSent(redact(f"could not build the request to {url}: {error}", hidden)) from None
    elapsed = (time.monotonic() - started) * 1000
    log.debug("%s %s -> %s in %.0f ms", method, redact(url, hidden), response.status_code, elapsed)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("request body: %s", redact(str(kwargs.get("data") or kwargs.get("json") or ""), hidden))
        log.debug("response body: %s", redact(response.text[:2000], hidden))
    return response


def _never_connected(error: requests.exceptions.ConnectionError) -> bool:
    text = str(error)
    return any(
        marker in text
        for marker in ("Connection refused", "Name or service not known", "NewConnectionError", "Failed to resolve")
    )


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide known secret values and anything that looks like a credential field's value."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return CREDENTIAL_VALUE.sub(r"\1***", text)


def retry_after_seconds(response: requests.Response) -> float | None:
    """The Retry-After header in seconds (only the delta form; dates are rare from these APIs)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def json_object(response: requests.Response) -> dict:
    """The answer's JSON object, or {} when the body is not one (an HTML error page, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def as_int(value: object) -> int | None:
    """A provider's code as a number ("1006", 1006, " 200 "), or None."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


SEND_THREADS = 8


def send_pool() -> ThreadPoolExecutor:
    """The thread pool for providers that take one message per request.

    One long-lived pool per process, so each thread's pooled connections are reused across
    batches; per pid, because a forked RQ work horse cannot use its parent's threads.
    """
    return _pool_of(os.getpid())


@cache
def _pool_of(pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix=f"provider-send-{pid}")

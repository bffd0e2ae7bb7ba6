"""The one way provider code talks HTTP: pooled connections, timeouts, redacted logs, classified errors.

Every provider call goes through ``request``. It never raises for an HTTP status: the provider
class reads the status and body and decides. It raises only for transport failures, split by
whether the request can have reached the provider:

- ``NotSent``: the connection was never made (DNS, refused, connect timeout). Safe to retry.
  (``Late``, one kind of it: the request was not sent because it could not leave in time.)
- ``NoAnswer``: the request may have been delivered but no answer came (read timeout, reset).
  The provider may have acted on it: the message's outcome is unknown.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import contextvars
import gc
import json
import logging
import os
import ssl
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Protocol
from urllib.parse import urlencode

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from providers.redaction import redact  # the one redaction rule, also used by every log line

log = logging.getLogger("providers.http")
_local = threading.local()


class TransportError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotSent(TransportError):
    """The request never left: retrying cannot duplicate anything."""


class Late(NotSent):
    """The request never left, because it could not leave by the time it had to (``leaving_by``)."""


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
    # Never follow a redirect: requests drops Authorization on a cross-host redirect, but not an
    # apikey header, and a 307 resends the body with its credentials to wherever it points.
    kwargs.setdefault("allow_redirects", False)
    if settings.PROVIDER_CA_BUNDLE:  # per request: a session's own would lose to REQUESTS_CA_BUNDLE
        kwargs.setdefault("verify", settings.PROVIDER_CA_BUNDLE)
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


# --- many requests at once --------------------------------------------------------------------
#
# Per-message providers (Twilio, Gupshup) need hundreds of requests in flight per worker to reach
# their channel's rate at a real provider's latency. Threads cost a stack and a GIL turn each;
# one asyncio loop per process with aiohttp keeps them all in flight for little CPU (measured on
# the loopback endpoint: aiohttp about 5x a requests.Session per request, httpx slower than
# requests). The pipeline stays synchronous: request_many blocks its caller until every request
# of the batch has an answer or a transport error, classified exactly like ``request``'s.

MAX_IN_FLIGHT = 256  # requests one worker process keeps open at once, all providers together
# The most requests in one batch of a per-message provider: two batches fit in flight, so the next
# one leaves at its booked time while one waits for answers. (A batch that waits for free slots
# leaves late, and a late batch crowds the next one's rate-limit window.)
BATCH_MOST = MAX_IN_FLIGHT // 2


@dataclass(frozen=True)
class Call:
    """One request of a batch. ``data`` is a form (sent url-encoded), ``json`` a JSON body."""

    method: str
    url: str
    data: list[tuple[str, str]] | dict[str, str] | None = None
    json: object = None
    headers: dict[str, str] | None = None
    auth: tuple[str, str] | None = None
    secrets: tuple[str, ...] = ()
    message_id: int | None = None  # the message this request carries, for the notes of what was written


class WriteNotes(Protocol):
    """Where the caller notes each request as it is written (see ``noting_writes``)."""

    async def writing(self, message_id: int) -> bool:
        """Note the message's request as written now; False: it must not be written (answered NotSent)."""

    async def not_writing(self, message_id: int) -> None:
        """Strike off a request noted as written that was then not written after all (late)."""


class Answer:
    """What a provider class reads of an answer, with requests.Response's names."""

    def __init__(self, status_code: int, reason: str, headers: Mapping[str, str], content: bytes):
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> object:
        return json.loads(self.content)  # a ValueError when it is not JSON, as requests raises


_leave_by: contextvars.ContextVar[float | None] = contextvars.ContextVar("leave_by", default=None)


@contextlib.contextmanager
def leaving_by(deadline: float | None) -> Iterator[None]:
    """``request_many`` inside this block sends no request later than ``deadline`` (time.monotonic()):
    one that could not leave by then is answered ``Late``, never sent.

    The rate limiter books a time for a batch; a request that leaves well after it would share the
    provider's second with the next batch's, so it waits for a booking of its own instead.
    """
    token = _leave_by.set(deadline)
    try:
        yield
    finally:
        _leave_by.reset(token)


_notes: contextvars.ContextVar[WriteNotes | None] = contextvars.ContextVar("notes", default=None)


@contextlib.contextmanager
def noting_writes(notes: WriteNotes | None) -> Iterator[None]:
    """``request_many`` inside this block notes each request with ``notes.writing(call.message_id)``
    once it has its connection, just before its first byte is written, and writes it only once that
    note is made: a process killed at any moment leaves noted exactly the requests that may have
    left, plus at most the few between their note and their first byte. A call with no
    ``message_id`` is then not sent at all (NotSent): a request that could leave unnoted would be
    sent again after a crash.
    """
    token = _notes.set(notes)
    try:
        yield
    finally:
        _notes.reset(token)


def request_many(calls: list[Call], timeout: tuple[float, float] | None = None) -> list[Answer | TransportError]:
    """Send every call at once (up to MAX_IN_FLIGHT per process); one answer or error per call, in order.

    The errors are returned, not raised: NotSent when the connection was never made, NoAnswer when
    the request may have reached the provider.
    """
    if not calls:
        return []
    timeout = timeout or (settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT)
    sender = _async_sender(os.getpid())
    leave_by, notes = _leave_by.get(), _notes.get()
    return asyncio.run_coroutine_threadsafe(sender.send_all(calls, timeout, leave_by, notes), sender.loop).result()


# New connections one process opens at once to one provider ahead of its bookings: a burst of
# handshakes overflows a small listen backlog at the provider's edge, and a connection whose last
# handshake packet was dropped there looks open to us while its request waits a second to arrive.
OPEN_AT_ONCE = 2


def open_ahead(url: str, count: int) -> None:
    """Have ``count`` idle connections to ``url``'s host open for a batch booked to leave shortly.

    Returns at once; the connections are opened in the background, OPEN_AT_ONCE at a time, and go
    into the pool the batch's requests take theirs from. So those requests are written on
    connections the provider took a while ago, when their time comes, not on ones opened in that
    instant (a burst of handshakes at each booked time, some answered a second late). A request
    that finds none still opens its own, and is not written if that made it late (leaving_by).
    """
    if count < 1:
        return
    sender = _async_sender(os.getpid())
    asyncio.run_coroutine_threadsafe(sender.open_ahead(url, count), sender.loop)


def warm_up() -> None:
    """Start this process's event loop and session now, not on the first batch: a batch sent late
    by that start-up lands in the next batch's rate-limit window."""
    sender = _async_sender(os.getpid())
    asyncio.run_coroutine_threadsafe(sender.open(), sender.loop).result()
    _keep_start_up_out_of_full_collections(os.getpid())


@cache
def _keep_start_up_out_of_full_collections(pid: int) -> None:
    """Move what this process has loaded by now out of the garbage collector's reach (gc.freeze).

    A full collection stops every thread while it walks every object: with Django, the models and
    aiohttp loaded, 28 ms on a quiet machine, and more with a claim's rows on a busy one. Batches
    booked in that pause left past their time (at 2,000 msg/s, one a second or so was held back as
    late). What is loaded before the first batch lives as long as the process anyway.
    """
    gc.freeze()


class _AsyncSender:
    """A daemon thread running an event loop with one pooled aiohttp session."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._session = None  # an aiohttp.ClientSession, made on the loop
        self._slots: asyncio.Semaphore | None = None
        self._opening: dict[object, int] = {}  # connections being opened ahead, by aiohttp's connection key
        self._open_slots: dict[object, asyncio.Semaphore] = {}
        threading.Thread(target=self.loop.run_forever, name="provider-http", daemon=True).start()
        atexit.register(self.close)

    def close(self) -> None:
        """Close the pooled connections (at exit: aiohttp complains of a session left open)."""
        if self._session is not None and self.loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._session.close(), self.loop)
            with contextlib.suppress(Exception):  # leaving at exit anyway
                closing.result(timeout=2)

    async def open(self) -> None:
        import aiohttp  # here, not at the top: a work horse that only uses ``request`` skips the import

        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_IN_FLIGHT, limit_per_host=0, ttl_dns_cache=300, ssl=_tls_context()
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=False, request_class=_request_class()
            )
            self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def open_ahead(self, url: str, count: int) -> None:
        """open_ahead's work, on the loop: open what the pool lacks of ``count`` idle connections."""
        import aiohttp
        from yarl import URL

        await self.open()
        connector = self._session.connector
        request = aiohttp.ClientRequest("GET", URL(url), loop=self.loop)
        key = request.connection_key
        # aiohttp's idle connections for that key (its pool, a private attribute: aiohttp is pinned).
        idle = len(connector._conns.get(key, ()))
        wanted = min(count, MAX_IN_FLIGHT) - idle - self._opening.get(key, 0)
        if wanted <= 0:
            return
        self._opening[key] = self._opening.get(key, 0) + wanted
        slots = self._open_slots.setdefault(key, asyncio.Semaphore(OPEN_AT_ONCE))
        for _ in range(wanted):
            self.loop.create_task(self._open_one(connector, request, key, slots))

    async def _open_one(self, connector, request, key, slots: asyncio.Semaphore) -> None:
        import aiohttp

        limits = aiohttp.ClientTimeout(total=None, sock_connect=settings.PROVIDER_CONNECT_TIMEOUT)
        try:
            async with slots:
                # A new one (``connect`` would hand back an idle one), put in the pool as aiohttp
                # puts back a connection after its answer: idle, for the batch it was opened for.
                protocol = await connector._create_connection(request, [], limits)
                _settled.add(protocol)
                connector._release(key, protocol)
        except Exception as error:  # noqa: BLE001 - the batch's requests open their own, and classify the failure
            log.debug("could not open a connection ahead to %s: %r", request.url.host, error)
        finally:
            self._opening[key] -= 1

    async def send_all(
        self, calls: list[Call], timeout: tuple[float, float], leave_by: float | None = None, notes=None
    ) -> list[Answer | TransportError]:
        await self.open()
        return list(await asyncio.gather(*(self._send(call, timeout, leave_by, notes) for call in calls)))

    async def _send(
        self, call: Call, timeout: tuple[float, float], leave_by: float | None, notes: WriteNotes | None = None
    ) -> Answer | TransportError:
        import aiohttp

        hidden = [s for s in call.secrets if s]
        if notes is not None and call.message_id is None:
            log.error("a request to %s names no message to note as written: not sent", redact(call.url, hidden))
            return NotSent("Not sent: the request names no message to note as written.")
        limits = aiohttp.ClientTimeout(total=None, sock_connect=timeout[0], sock_read=timeout[1])
        headers = dict(call.headers or {})
        if call.auth:
            pair = f"{call.auth[0]}:{call.auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        body: bytes | None = None
        if call.data is not None:
            body = urlencode(call.data, doseq=True).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif call.json is not None:
            body = json.dumps(call.json).encode()
            headers.setdefault("Content-Type", "application/json")
        started = time.monotonic()
        async with self._slots:
            now = time.monotonic()
            if leave_by is not None and now > leave_by:
                return _late(now - leave_by)
            _write_by.set(leave_by)  # this request's own task: checked again once it has its connection
            _noting.set((notes, call.message_id) if notes is not None else None)  # noted then, too
            try:
                async with self._session.request(
                    call.method, call.url, data=body, headers=headers, timeout=limits, allow_redirects=False
                ) as response:
                    content = await response.read()
                    answer = Answer(response.status, response.reason or "", response.headers, content)
            except _NotWrittenInTime as late:
                return _late(late.seconds)
            except _NotNoted:
                return NotSent(NOT_NOTED)
            except Exception as error:  # noqa: BLE001 - every failure becomes a classified TransportError
                return _classify_async_error(error, call.url, timeout, hidden)
        if log.isEnabledFor(logging.DEBUG):
            elapsed = (time.monotonic() - started) * 1000
            log.debug("%s %s -> %s in %.0f ms", call.method, redact(call.url, hidden), answer.status_code, elapsed)
            log.debug("request body: %s", redact((body or b"").decode(errors="replace"), hidden))
            log.debug("response body: %s", redact(answer.text[:2000], hidden))
        return answer


def _tls_context() -> ssl.SSLContext | bool:
    """The CAs provider calls trust: PROVIDER_CA_BUNDLE's when set, else the system's (True).

    One context for the process's pool: its TLS sessions and connections are kept from job to job."""
    if not settings.PROVIDER_CA_BUNDLE:
        return True
    return ssl.create_default_context(cafile=settings.PROVIDER_CA_BUNDLE)


# The time the request being sent on this task must be written by (time.monotonic()), or None.
_write_by: contextvars.ContextVar[float | None] = contextvars.ContextVar("write_by", default=None)


# The notes (and the message) of the request being sent on this task, or None (noting_writes).
_noting: contextvars.ContextVar[tuple[WriteNotes, int] | None] = contextvars.ContextVar("noting", default=None)
NOT_NOTED = "Not sent: it could not be noted as written (its claim was taken over, or Redis failed); it goes again."


class _NotNoted(Exception):
    """Raised by the request class when its note was refused: nothing was written."""


class _NotWrittenInTime(Exception):
    """Raised by the request class when its connection came too late: nothing was written."""

    def __init__(self, seconds: float):
        super().__init__(f"{seconds * 1000:.0f} ms late")
        self.seconds = seconds


def _late(seconds: float) -> Late:
    return Late(f"Not sent: it was {seconds * 1000:.0f} ms past the time it had to leave by; it goes again shortly.")


@cache
def _request_class():
    """aiohttp's request, checking the leave-by time once more when it has its connection, and
    noting the request as written (``noting_writes``) just before its first byte is.

    The first check (``_send``) is made before aiohttp looks for a connection. Opening one can take
    a second or more (a provider's edge slow to accept, SYN retries, a TLS handshake): a request
    written then would land in a later second than its booking, beside the next booking's. So the
    time is checked again just before the first byte is written; a request past it is not written
    at all (``Late``, booked again); the connection it waited for goes back to the pool unused if it
    was taken from there (one it opened itself is closed: see ``_settled``). The note is made here,
    not when the batch is handed to aiohttp, for the same reason: a request waiting for its
    connection has not left, and a crash then must not leave it in doubt. The time is checked once
    more after the note (a slow note makes it late too).
    """
    import aiohttp

    class LeavingOnTime(aiohttp.ClientRequest):
        async def send(self, conn):
            deadline = _write_by.get()
            _refuse_if_late(conn, deadline)
            noting = _noting.get()
            if noting is not None:
                notes, message_id = noting
                if not await _noted(notes, message_id):
                    _put_back_unused(conn)
                    raise _NotNoted
                try:
                    _refuse_if_late(conn, deadline)
                except _NotWrittenInTime:
                    # Noted, and not written: struck off now, not once the whole batch is answered
                    # (a crash in between would leave it unknown though it never left).
                    await _not_noted_after_all(notes, message_id)
                    raise
            _settled.add(conn.protocol)  # written on: the provider surely took it
            return await super().send(conn)

    return LeavingOnTime


async def _noted(notes: WriteNotes, message_id: int) -> bool:
    try:
        return await notes.writing(message_id)
    except Exception:  # a failed note is a refused one: nothing is written, the message goes again
        log.exception("could not note message %s as written: not sent", message_id)
        return False


async def _not_noted_after_all(notes: WriteNotes, message_id: int) -> None:
    try:
        await notes.not_writing(message_id)
    except Exception:  # the caller strikes it off again with the batch's results
        log.warning("could not strike message %s off the notes at once", message_id, exc_info=True)


def _refuse_if_late(conn, deadline: float | None) -> None:
    now = time.monotonic()
    if deadline is not None and now > deadline:
        _put_back_unused(conn)
        raise _NotWrittenInTime(now - deadline)


# The connections a request may be written on at its booked time: opened ahead (open_ahead), or
# written on before. Not one a request opened for itself and then could not use (it came too late):
# its handshake was slow because the provider's edge was dropping packets of a burst of them, and it
# may be open only on our side (the edge's accept queue was full when our last handshake packet came,
# and it dropped it). A request written on it is dropped too, and arrives when the kernel sends it
# again, 0.2 s later: in the next booking's second (the slow-connecting chaos bench at 100 msg/s saw
# it: every request that arrived over 50 ms after it was written went on such a connection).
_settled: weakref.WeakSet = weakref.WeakSet()


def _put_back_unused(conn) -> None:
    """A connection the request got and did not write on: back to the pool if it is settled, else
    closed. (aiohttp's own close after this is then a no-op.)"""
    transport = conn.transport
    if conn.protocol in _settled or (transport is not None and transport.get_extra_info("ssl_object") is not None):
        conn.release()  # (a TLS handshake is the provider's answer: it took the connection)
    else:
        conn.close()


def _classify_async_error(
    error: Exception, url: str, timeout: tuple[float, float], hidden: list[str]
) -> TransportError:
    """NotSent when no connection was made; NoAnswer when the request may have reached the provider."""
    import aiohttp

    if isinstance(error, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError | aiohttp.InvalidURL):
        return NotSent(redact(f"could not connect to {url}: {error}", hidden))
    if isinstance(error, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        return NoAnswer(redact(f"no answer from {url} within {timeout[1]} s", hidden))
    if isinstance(error, aiohttp.ClientError | OSError):
        return NoAnswer(redact(f"connection to {url} broke before an answer: {error}", hidden))
    log.error("unexpected error sending to %s: %s", redact(url, hidden), redact(repr(error), hidden))
    return NoAnswer(redact(f"the request to {url} failed unexpectedly ({type(error).__name__})", hidden))


@cache
def _async_sender(pid: int) -> _AsyncSender:
    """One per process: a forked RQ work horse cannot use its parent's loop thread."""
    return _AsyncSender()

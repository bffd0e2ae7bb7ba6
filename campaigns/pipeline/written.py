"""Which of a claim's requests were written: so that after a crash only those are ``unknown``.

A row is ``sending`` from its hand-over: a database statement made ahead of the batch's booked time
(as long as it takes, up to 50 ms), so that the batch still leaves on time. A worker killed in
between left rows ``sending`` whose requests never left: marked ``unknown`` they each cost a person
a decision for nothing. So each request is also noted here, in Redis, as it is written:

- a provider that sends each message in a request of its own (Twilio, Gupshup: providers.http's
  ``request_many``) has each request noted once it has its connection, just before its first byte
  is written (``Record.writing``, on providers.http's event loop). The requests reaching that point
  together are noted in one Redis round trip, on that loop, so a batch is not made late by its
  notes (no thread in between, whose turn a busy machine delays). A request still waiting for its
  connection at a crash (a provider's edge slow to take connections) is not noted: it goes back to
  the queue, not to a person;
- a provider whose one request carries many messages has the batch noted at its booked time,
  just before the provider is called (``Record.leaving``).

Either way the messages whose requests were then held back after all (late) are struck off again.
The reconciler (jobs.expire_stale_sending) returns a dead claim's rows that are not in its record
to the queue, and marks only the others ``unknown``.

What makes a row missing from the record safe to send again, whatever happens to Redis:

- a request is noted, and the note answered, before its first byte is written; a message is
  struck off only once its request is known not to have been written, and will not be;
- a claim's record is opened (``open:<Redis run id>``) before any of its rows is handed over, and
  trusted only if that mark is still in it, from the Redis that still runs: a record flushed, or
  restored from an older snapshot by a restart (a new run id), or expired, proves nothing, and
  every row in doubt is then ``unknown``, as before;
- the reconciler closes a record before reading it, and a note to a closed record is refused (that
  request is not written): a hung worker waking up after its claim was taken cannot send a
  message the reconciler has just put back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600  # a dead claim's record waits this long for the reconciler (it comes within a minute)
# A note not answered by then is refused (its request is not written, and goes again): a request
# must not wait on a stuck Redis for longer than the lateness it is allowed anyway.
NOTE_TIMEOUT_SECONDS = 1.0
# Connections a process's notes and strikes share (one round trip per claim and turn of the loop
# needs few): past that a round trip waits for one, up to NOTE_TIMEOUT_SECONDS, instead of failing.
NOTE_CONNECTIONS = 8

# KEYS[1]: the claim's record. ARGV: seconds to keep it, then the ids about to be written.
# Returns 1 when noted, 0 when the record was closed (nothing may be written for this claim).
NOTE_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], 'closed') == 1 then
  return 0
end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS[1]: the claim's record. ARGV: seconds to keep it. Closes it and returns what it holds.
CLOSE_SCRIPT = """
redis.call('SADD', KEYS[1], 'closed')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return redis.call('SMEMBERS', KEYS[1])
"""


@cache
def _redis():
    return django_rq.get_connection("default")  # one client (and pool) per process, not one per call


@cache
def _scripts():
    connection = _redis()
    return connection.register_script(NOTE_SCRIPT), connection.register_script(CLOSE_SCRIPT)


def record_key(token) -> str:
    return f"written:{token}"


def _opened_mark() -> str:
    """The mark of a record opened by the Redis running now (its run id changes with every start)."""
    return f"open:{_redis().info('server')['run_id']}"


def open_record(token) -> None:
    """Start the claim's record; before any of its rows is handed over."""
    key = record_key(token)
    with _redis().pipeline(transaction=True) as pipe:
        pipe.sadd(key, _opened_mark()).expire(key, KEEP_SECONDS).execute()


class Record:
    """A claim's record, as its batches go (see the module's docstring)."""

    def __init__(self, token) -> None:
        self.key = record_key(token)

    def leaving(self, ids: list[int]) -> bool:
        """Note these messages as leaving now; False when the record is closed (the reconciler took
        the claim): they must not be sent."""
        if not ids:
            return True
        script, _ = _scripts()
        return bool(script(keys=[self.key], args=[KEEP_SECONDS, *ids]))

    async def writing(self, message_id: int) -> bool:
        """Note this message's request as written now (providers.http.noting_writes calls it on its
        event loop, just before the first byte); False when it must not be written: the record is
        closed, or Redis did not answer."""
        return await _notepad(asyncio.get_running_loop()).note(self.key, message_id)

    async def not_writing(self, message_id: int) -> None:
        """Strike off a request noted by ``writing`` and then held back (late), at once, on the loop."""
        await _notepad(asyncio.get_running_loop()).strike(self.key, message_id)

    def not_written(self, ids: list[int]) -> None:
        """Strike off messages whose requests were not written (and will not be: they were answered
        as such). Best effort: one the worker dies before striking off stays ``unknown``, as before."""
        if ids:
            try:
                _redis().srem(self.key, *ids)
            except RedisError as error:
                log.warning("could not strike %d messages not sent off their claim's record: %r", len(ids), error)


class _Notepad:
    """The notes of one event loop's requests, written to Redis together: every request reaching
    its note in one turn of the loop (a batch's requests, on the connections opened ahead for it)
    waits for the same round trip. Strikes likewise: a batch held back as late on a busy machine
    strikes off hundreds at once, and one round trip each ran the connection pool dry."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import redis.asyncio

        self.loop = loop
        self.waiting: dict[str, list[tuple[int, asyncio.Future]]] = {}
        self.striking: dict[str, list[tuple[int, asyncio.Future]]] = {}
        url = settings.RQ_QUEUES["default"]["URL"]  # the Redis the sync client (_redis) talks to
        timeouts = {"socket_timeout": NOTE_TIMEOUT_SECONDS, "socket_connect_timeout": NOTE_TIMEOUT_SECONDS}
        # Blocking: a burst waits for a free connection (up to the timeout) rather than failing.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url, max_connections=NOTE_CONNECTIONS, timeout=NOTE_TIMEOUT_SECONDS, **timeouts
        )
        self.client = redis.asyncio.Redis.from_pool(pool)
        self.script = self.client.register_script(NOTE_SCRIPT)

    async def note(self, key: str, message_id: int) -> bool:
        if not self.waiting:
            self.loop.create_task(self._write())  # starts on the loop's next turn, with all noted by then
        answer = self.loop.create_future()
        self.waiting.setdefault(key, []).append((message_id, answer))
        return await answer

    async def strike(self, key: str, message_id: int) -> None:
        """Strike one off (a request made late by its own note), with the others struck off in this
        turn of the loop: one SREM per claim. Never raises: a failure is logged once for them all
        (the batch's results strike them off again)."""
        if not self.striking:
            self.loop.create_task(self._strike())
        done = self.loop.create_future()
        self.striking.setdefault(key, []).append((message_id, done))
        await done

    async def _strike(self) -> None:
        striking, self.striking = self.striking, {}
        try:
            await asyncio.gather(*(self.client.srem(key, *(pk for pk, _ in s)) for key, s in striking.items()))
        except Exception as error:  # noqa: BLE001 - best effort, as not_written: the caller strikes them off again
            count = sum(len(s) for s in striking.values())
            log.warning("could not strike %d requests held back off their claims' records at once: %r", count, error)
        finally:
            for strikes in striking.values():
                for _, done in strikes:
                    if not done.done():
                        done.set_result(None)

    async def _write(self) -> None:
        waiting, self.waiting = self.waiting, {}
        noted = [0] * len(waiting)  # refused, unless Redis answers: nothing is written unnoted
        try:
            # One claim's requests at a time, nearly always: one round trip (EVALSHA).
            noted = await asyncio.gather(*(self._noted(key, notes) for key, notes in waiting.items()))
        except Exception as error:  # noqa: BLE001 - any failure refuses the notes: those requests go again
            log.warning("%d requests not sent: they could not be noted as written: %r", len(waiting), error)
        finally:
            for notes, answer in zip(waiting.values(), noted, strict=True):
                for _, future in notes:
                    if not future.done():  # a request cancelled while it waited has no one to tell
                        future.set_result(bool(answer))

    async def _noted(self, key: str, notes: list[tuple[int, asyncio.Future]]) -> int:
        return await self.script(keys=[key], args=[KEEP_SECONDS, *(pk for pk, _ in notes)])


@cache
def _notepad(loop: asyncio.AbstractEventLoop) -> _Notepad:
    return _Notepad(loop)


def close_record(token) -> set[int] | None:
    """Close the claim's record (no request of it is written after this) and return the ids noted in
    it; None when the record cannot be trusted (lost, flushed, or from before a Redis restart)."""
    _, script = _scripts()
    found = script(keys=[record_key(token)], args=[KEEP_SECONDS])
    members = {m.decode() if isinstance(m, bytes) else str(m) for m in found}
    if _opened_mark() not in members:
        return None
    return {int(m) for m in members if m.isdigit()}


def forget(token) -> None:
    """The claim is over and nothing of it is in doubt: its record is no longer needed."""
    _redis().delete(record_key(token))

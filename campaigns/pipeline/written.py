"""Which of a claim's requests were leaving: so that after a crash only those are ``unknown``.

A row is ``sending`` from its hand-over: a database statement made ahead of the batch's booked time
(as long as it takes, up to 50 ms), so that the batch still leaves on time. A worker killed in
between left rows ``sending`` whose requests never left: marked ``unknown`` they each cost a person
a decision for nothing. So each batch is also noted here, in Redis (a fraction of a millisecond),
at its booked time just before its requests are written, and the messages whose requests were
then held back (late, or no connection made) are struck off again. The reconciler
(jobs.expire_stale_sending) returns a dead claim's rows that are not in its record to the queue,
and marks only the others ``unknown``.

What makes a row missing from the record safe to send again, whatever happens to Redis:

- a batch is noted, and the note answered, before its first request is written; a message is
  struck off only once its request is known not to have been written, and will not be;
- a claim's record is opened (``open:<Redis run id>``) before any of its rows is handed over, and
  trusted only if that mark is still in it, from the Redis that still runs: a record flushed, or
  restored from an older snapshot by a restart (a new run id), or expired, proves nothing, and
  every row in doubt is then ``unknown``, as before;
- the reconciler closes a record before reading it, and a note to a closed record is refused (that
  batch is not sent): a hung worker waking up after its claim was taken cannot send a message
  the reconciler has just put back in the queue.
"""

from __future__ import annotations

import logging
from functools import cache

import django_rq
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600  # a dead claim's record waits this long for the reconciler (it comes within a minute)

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

    def not_written(self, ids: list[int]) -> None:
        """Strike off messages whose requests were not written (and will not be: they were answered
        as such). Best effort: one the worker dies before striking off stays ``unknown``, as before."""
        if ids:
            try:
                _redis().srem(self.key, *ids)
            except RedisError as error:
                log.warning("could not strike %d messages not sent off their claim's record: %r", len(ids), error)


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

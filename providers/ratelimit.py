"""Each channel's messages-per-second limit, shared by every worker through Redis.

Providers count what they receive in one-second windows and answer 429 past the limit. A plain
token bucket cannot promise that: with capacity C it lets C + rate messages through in some
second (after an idle spell, a full bucket plus a second's refill). So the limiter books send
times instead, keeping two promises at once:

- pacing: sends are spread evenly at the rate (a generic cell rate algorithm), so a provider
  that meters with its own small bucket sees no burst; only time lost while every worker was
  busy (up to ``CATCH_UP_SECONDS``) is made up by sending a little sooner;
- window: no ``WINDOW_SECONDS`` span ever holds more than ``rate`` messages, which also holds
  when the pipeline sends batches whose size does not divide the rate.

``WINDOW_SECONDS`` is one second plus an allowance for the jitter between booking a time and the
request reaching the provider (a late wake-up, a slow connection): the first message of the
provider's second may arrive that much later than booked without the next one landing inside it.
The price is a rate about 7% under the configured one. (On a 2-core machine shared by several
test suites batches were seen up to 0.1 s off their booked times; with 0.05 s two batches met in
one sliding second now and then. The pipeline also pays its start-up costs before booking.)

The allowance only holds if requests really leave near their booked time, so the pipeline keeps
them there: a booking is small (``batch_for``: at most 25 ms of the rate), and a request that
cannot leave within ``LEAVE_WITHIN_SECONDS`` of its time (the process was paused, the machine
busy) is not sent at all but booked again a moment later (``take`` returns the time to leave by;
providers.http.leaving_by enforces it).

Redis may lose the bookings (a flush, a restart without persistence). A worker that booked on
the channel a moment ago (or, in a new process, whose caller says the channel sent lately) then
knows the window may be full: it says so, and the script starts the lost channel one window later
instead of letting a second burst through (two windows: a booking made just before the loss may
still be a window ahead). A channel nobody used recently starts at once.

The whole booking is one Lua script, so it is atomic however many workers ask at once, and it
costs one round trip per batch: the worker then sleeps until its booked time and sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

import django_rq

if TYPE_CHECKING:
    from providers.models import Channel

JITTER_ALLOWANCE_SECONDS = 0.075
# Of that allowance, what our side may use: a request leaves at most this long after its booked
# time, or not at all (it is booked again). The rest is for the network and the provider's side.
LEAVE_WITHIN_SECONDS = 0.04
RECENT_SECONDS = 60.0  # a booking this recent means missing state was lost, not expired
WINDOW_SECONDS = 1.0 + JITTER_ALLOWANCE_SECONDS
CATCH_UP_SECONDS = 0.1
BATCH_SECONDS = 0.025  # a booking holds at most this much of the channel's rate (see batch_for)
SMALL_BATCH = 50  # ... unless that is fewer than this: so few requests leave together in a few ms

# KEYS[1]: hash with the paced schedule ("due": when the next send is due) and the total in the log.
# KEYS[2]: list of bookings "at count", oldest first, trimmed as they leave the window.
# ARGV: rate per second, messages wanted, window seconds, catch-up seconds, "1" when this worker
# booked on the channel lately (so missing state means Redis lost it, not an idle channel), and the
# least time from now the booking may be (what the caller does just before it sends).
# Returns {seconds to wait, booked time on the Redis clock}, as text (a Lua number would come back
# truncated to an integer).
BOOK_SCRIPT = """
local rate = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local catch_up = tonumber(ARGV[4])
local lead = tonumber(ARGV[6]) or 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'due', 'total')
local due = tonumber(state[1]) or 0
if not state[1] and ARGV[5] == '1' then
  -- Lost, not idle: a window's worth may just have gone out, and a worker may hold a booking up
  -- to a window ahead that is now forgotten. Start after both.
  due = now + 2 * window + catch_up
end
local total = tonumber(state[2]) or 0

local at = math.max(now + lead, due - catch_up)
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then
    total = 0
    break
  end
  local space = string.find(head, ' ', 1, true)
  local head_at = tonumber(string.sub(head, 1, space - 1))
  local head_count = tonumber(string.sub(head, space + 1))
  if head_at > at - window and total + wanted <= rate then
    break
  end
  -- This booking has left the window, or must leave it before ours fits: move past it.
  redis.call('LPOP', KEYS[2])
  total = total - head_count
  at = math.max(at, head_at + window)
end

total = total + wanted
due = math.max(due, at) + wanted * window / rate
redis.call('RPUSH', KEYS[2], string.format('%.6f %d', at, wanted))
redis.call('HSET', KEYS[1], 'due', string.format('%.6f', due), 'total', string.format('%d', total))
local keep_ms = math.ceil((due - now + window) * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], keep_ms)
redis.call('PEXPIRE', KEYS[2], keep_ms)
return {string.format('%.6f', at - now), string.format('%.6f', at)}
"""


@cache
def _book_script():
    return django_rq.get_connection("default").register_script(BOOK_SCRIPT)


def bucket_keys(channel: Channel) -> list[str]:
    # One hash tag per channel keeps both keys on one Redis Cluster slot.
    base = f"ratelimit:{{channel:{channel.pk}}}"
    return [base, f"{base}:bookings"]


def book(
    channel: Channel, count: int, sent_lately: Callable[[], bool] | None = None, lead: float = 0.0
) -> tuple[float, float]:
    """Book the earliest time ``count`` messages may go on this channel, at least ``lead`` seconds from now.

    Returns the seconds to wait and the booked time on the Redis clock (which all workers share).
    A batch larger than the rate cannot fit any one-second window: it is booked alone, and the
    channel then waits its full share of time, so the long-run rate still holds. The pipeline
    should keep batches at or below the rate.
    """
    rate = float(channel.rate_limit)
    if not rate > 0:
        raise ValueError(f"rate_limit: channel {channel.pk} has {channel.rate_limit!r}; it must be above 0.")
    if count < 1:
        return 0.0, time.time()
    now = time.monotonic()
    recent = now - _last_booked.get(channel.pk, -RECENT_SECONDS) < RECENT_SECONDS
    if not recent and channel.pk not in _asked and sent_lately is not None:
        # A fresh worker process knows nothing of what others sent: ask once (the database).
        _asked.add(channel.pk)
        recent = sent_lately()
    args = [rate, int(count), WINDOW_SECONDS, CATCH_UP_SECONDS, "1" if recent else "0", f"{max(lead, 0.0):.6f}"]
    wait, at = _book_script()(keys=bucket_keys(channel), args=args)
    _last_booked[channel.pk] = now
    return float(wait), float(at)


_last_booked: dict[int, float] = {}  # channel id -> when this process last booked on it (monotonic)
_asked: set[int] = set()  # channels whose recent sends this process asked the caller about


def forget_recent_bookings() -> None:
    """Forget this process's bookings (tests that empty Redis on purpose between cases)."""
    _last_booked.clear()
    _asked.clear()


def batch_for(rate: float, most: int) -> int:
    """The largest batch up to ``most`` of which whole batches fill the channel's window.

    Bookings are whole batches, and a window holds at most ``rate`` messages: batches of 32 on a
    50 msg/s channel fit one to a window (30 msg/s). Batches of 25 fit two (the full 50).

    A batch is also at most ``BATCH_SECONDS`` of the channel's rate (but never under
    ``SMALL_BATCH``): its requests all leave at its booked time, and the last of a big batch
    leaves later than the first by as long as the machine takes to open and write them all
    (250 took 50 to 90 ms on a busy 2-core machine, more than the whole jitter allowance; 50 take
    about 10). Smaller bookings keep that spread inside the allowance.
    """
    rate = max(1, int(rate))
    most = max(1, min(most, max(SMALL_BATCH, int(rate * BATCH_SECONDS))))
    per_window = -(-rate // most)  # how many batches a window must hold
    return max(1, min(most, rate // per_window))


def take(channel: Channel, count: int, sent_lately: Callable[[], bool] | None = None) -> float:
    """Block until ``count`` messages may go on this channel without exceeding its rate.

    Returns the time (``time.monotonic()``) by which they must have left: a request that leaves
    later than ``LEAVE_WITHIN_SECONDS`` after its booked time is past what the window allows for,
    and would share the provider's second with a later booking's (see providers.http.leaving_by).

    ``sent_lately`` answers whether anything went on the channel in the last second or two; it is
    asked once per process and channel, so that a new worker process can tell a channel whose
    bookings Redis lost from an idle one.
    """
    due, leave_by = reserve(channel, count, sent_lately)
    sleep_until(due)
    return leave_by


def reserve(
    channel: Channel, count: int, sent_lately: Callable[[], bool] | None = None, lead: float = 0.0
) -> tuple[float, float]:
    """Book ``count`` messages without waiting, at least ``lead`` seconds ahead: when they are due and
    when they must have left by (both ``time.monotonic()``). For a caller with something to do in
    the ``lead`` before its time (the pipeline's hand-over, campaigns/pipeline/sending.py)."""
    asked = time.monotonic()
    wait, _ = book(channel, count, sent_lately, lead)
    due = asked + max(wait, 0.0)
    return due, due + LEAVE_WITHIN_SECONDS


def sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        time.sleep(wait)

"""Each channel's messages-per-second limit, shared by every worker through Redis.

A token bucket kept in one Redis hash per channel and changed only inside a Lua script, so the
check-and-take is atomic however many workers ask at once. The bucket holds at most one second
of tokens: a burst after a quiet spell never exceeds the channel's rate by more than that.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING

import django_rq

if TYPE_CHECKING:
    from providers.models import Channel

# KEYS[1] bucket; ARGV: rate per second, capacity, tokens wanted. Returns seconds to wait (0 = taken).
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = capacity; at = now_s end
tokens = math.min(capacity, tokens + (now_s - at) * rate)
if tokens >= wanted then
  tokens = tokens - wanted
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now_s))
  redis.call('EXPIRE', KEYS[1], 3600)
  return '0'
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now_s))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring((wanted - tokens) / rate)
"""


@cache
def _take_script():
    return django_rq.get_connection("default").register_script(TAKE_SCRIPT)


def bucket_key(channel: Channel) -> str:
    return f"ratelimit:channel:{channel.pk}"


def take(channel: Channel, count: int) -> None:
    """Block until ``count`` messages may go on this channel without exceeding its rate.

    A batch larger than one second's worth is taken in pieces, so big batches still pace evenly.
    """
    rate = float(channel.rate_limit)
    capacity = max(1.0, rate)
    remaining = count
    while remaining > 0:
        piece = min(remaining, int(capacity))
        wait = float(_take_script()(keys=[bucket_key(channel)], args=[rate, capacity, piece]))
        if wait <= 0:
            remaining -= piece
        else:
            time.sleep(wait)

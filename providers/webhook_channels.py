"""The channel a webhook's token names (or an API request's channel_key), kept for a few seconds
by each web process.

Every callback used to look its channel up: a query by the token's hash, then two Fernet
decryptions (the token and the credentials), a fifth of a status callback's cost (bench/receipts.py).
A process now keeps what it found for CACHE_SECONDS, and drops it as soon as any channel is saved
or deleted anywhere: each save bumps a generation number in Redis once its transaction commits,
and every lookup reads that number (one GET, far cheaper than the query it saves) and trusts only
what it kept under the same one. A credential, callback-address or token change therefore counts
from the next callback on. Without Redis nothing kept is trusted. A token no channel has is never
kept, so made-up addresses cannot grow the cache.

The API finds the channel its requests name by channel_key the same way (channel_with_key), and
reads the generation together with its own (campaigns/api/auth.py), in one round trip.

Twilio's callbacks on PostgreSQL skip even that GET (kept_channel_for_webhook): they use the kept
channel as it is and their one INSERT checks it instead, in the same statement (write_check): the
row is written only if the channel still has the credentials ciphertext (encrypted afresh by every
save), token hash and provider that were read with it. A callback that finds it changed writes
nothing and is answered again on a fresh read (ChannelChanged), and so is a callback the kept
channel refuses (a signature made with a new auth token): a change still counts from the next
callback on, and the saving is a round trip to Redis on every callback (bench/receipts.py).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

import django_rq
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from redis import Redis
from redis.exceptions import RedisError

from providers.credentials import lookup_hash
from providers.models import Channel

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0  # the longest a change made without Channel.save (a queryset update) waits
MAX_KEPT = 1_000  # channels one process keeps; past it, it starts again (a deployment has far fewer)
GENERATION_KEY = "providers:channels:generation"


@dataclass(frozen=True)
class _Kept:
    channel: Channel
    generation: bytes
    until: float


_kept: dict[str, _Kept] = {}


class ChannelChanged(Exception):
    """A write checked the kept channel (write_check) and found it changed: nothing was written."""


def channel_for_webhook(token: str, providers: Collection[str]) -> Channel | None:
    """The channel of one of ``providers`` whose callback URLs carry ``token``, or None."""
    token_hash = lookup_hash(token)
    channel = _kept_or_read(token_hash, _generation(), lambda: _by_token_hash(token_hash))
    return channel if channel is not None and channel.provider in providers else None


def kept_channel_for_webhook(token: str, providers: Collection[str]) -> tuple[Channel | None, bool]:
    """(channel, unconfirmed): on PostgreSQL the channel kept for ``token``, not checked against
    Redis (unconfirmed: its view's write must carry write_check(channel), and a refusal is only
    final on a confirmed channel); otherwise what channel_for_webhook finds, confirmed."""
    kept = _kept.get(lookup_hash(token))
    if connection.vendor != "postgresql" or kept is None or time.monotonic() >= kept.until:
        return channel_for_webhook(token, providers), False
    channel = copy.copy(kept.channel)
    channel._unconfirmed = True
    return (channel, True) if channel.provider in providers else (None, True)


def write_check(channel: Channel) -> tuple[str, list] | None:
    """The SQL condition (and its parameters) under which a write may trust ``channel``: None for a
    confirmed one; for an unconfirmed one, that its row still holds what was read with it."""
    if not getattr(channel, "_unconfirmed", False):
        return None
    table = connection.ops.quote_name(Channel._meta.db_table)
    sql = (
        f"EXISTS (SELECT 1 FROM {table} WHERE id = %s AND credentials = %s AND webhook_token_hash = %s "  # noqa: S608 - our name
        "AND provider = %s)"
    )
    return sql, [channel.pk, channel.stored_credentials, channel.webhook_token_hash, channel.provider]


def forget(token: str) -> None:
    """Drop what this process keeps for ``token`` (a write found it changed)."""
    _kept.pop(lookup_hash(token), None)


def _by_token_hash(token_hash: str):
    """The channel with its credentials as stored (write_check compares them)."""
    return Channel.objects.filter(webhook_token_hash=token_hash).annotate(
        stored_credentials=Cast("credentials", TextField())
    )


def channel_with_key(channel_key: str, generation: bytes | None) -> Channel | None:
    """The channel an API request names by ``channel_key``, or None; ``generation`` is what
    read_generation() answered for this request (None: Redis is down, nothing kept is trusted)."""
    return _kept_or_read(f"key:{channel_key}", generation, lambda: Channel.objects.filter(channel_key=channel_key))


def _kept_or_read(name: str, generation: bytes | None, query) -> Channel | None:
    kept = _kept.get(name)
    if kept is not None and generation is not None and kept.generation == generation and time.monotonic() < kept.until:
        return copy.copy(kept.channel)  # views may set attributes on it; the kept one stays as read
    channel = query().first()
    if channel is not None and generation is not None:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[name] = _Kept(copy.copy(channel), generation, time.monotonic() + CACHE_SECONDS)
    return channel


@cache
def _redis() -> Redis:
    """One client per process: django_rq makes a new one (and a new connection) on every call."""
    return django_rq.get_connection("default")


def _generation() -> bytes | None:
    try:
        return read_generation(_redis().get(GENERATION_KEY))
    except RedisError:
        log.warning("webhook channel cache not used: Redis is unavailable", exc_info=True)
        return None


def read_generation(stored: bytes | None) -> bytes:
    """The channels' generation from what Redis holds under GENERATION_KEY (nothing yet: "0")."""
    return stored or b"0"


def forget_channels(sender=None, **kwargs) -> None:
    """post_save / post_delete of a Channel: this process forgets now, every process once it commits."""
    _kept.clear()
    transaction.on_commit(_bump_generation)


def _bump_generation() -> None:
    _kept.clear()
    try:
        _redis().incr(GENERATION_KEY)
    except RedisError:
        log.warning("channel change not announced: Redis is unavailable (other processes catch up within %s s)",
                    CACHE_SECONDS, exc_info=True)  # fmt: skip

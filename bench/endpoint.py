"""A Twilio-shaped loopback endpoint cheap enough to measure a client against: raw asyncio HTTP/1.1.

It also answers a sendbulk gateway's ``POST .../sendbulk/`` (many messages a request).

The threaded fakes in providers/*/fake.py parse and check every request, which costs more than
the client's side of it: a ratio against them would measure the fake. This one reads a request
(headers, Content-Length body), optionally waits (the provider's latency, without a thread per
request), and answers Twilio's 201 with a message SID. Keep-alive, no chunked bodies.

In strict mode it also reads our message id from the StatusCallback's ``?m=`` (every Twilio
request carries it), counts how many times each id was accepted, answers a share of requests
500 or 429 (with Retry-After), and records acceptance times to check the channel's rate over every
sliding second. Stats at ``GET /stats`` as JSON, reset at ``POST /reset``; ``GET /pid`` names the
process answering (bench/dispatch.py checks the port it waits for is its own endpoint's).

Run alone: ``python -m bench.endpoint --port 9801 --latency 0.2``; or ``Endpoint(...).start()``
in a thread (tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

MESSAGE_ID = re.compile(rb"m%3D(\d+)|[?&]m=(\d+)")
SID_PREFIX = b"SM"


@dataclass
class Behaviour:
    latency: float = 0.0  # seconds before each answer
    strict: bool = False  # count per message id, check the rate
    error_share: float = 0.0  # share of requests answered 500
    throttle_share: float = 0.0  # share answered 429 with Retry-After
    retry_after: float = 1.0
    rate_limit: float = 0.0  # when set (strict), requests over it in any sliding second are counted
    # A provider's edge slow to take connections: a listen backlog this small and a pause after each
    # accept, so that a burst of new connections overflows it and the client's SYNs are retried
    # (a second or more to connect). 0: the usual backlog, no pause.
    backlog: int = 0
    accept_delay: float = 0.0
    # Close a connection once it is this many seconds old (0: keep it), as an edge that limits
    # keep-alive does: connections opened together close together, and the client opens a burst of
    # new ones all along the run, not only at its start.
    connection_seconds: float = 0.0


@dataclass
class Stats:
    requests: int = 0
    accepted: int = 0
    errors: int = 0
    throttled: int = 0
    per_message: Counter = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)
    connections: int = 0  # TCP (or TLS) connections accepted: each one a handshake for the client
    received: dict[int, float] = field(default_factory=dict)  # strict: message id -> when first read
    received_at: list[float] = field(default_factory=list)  # strict: when each request was read

    def as_json(self, rate_limit: float) -> dict:
        duplicates = {str(k): v for k, v in self.per_message.items() if v > 1}
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "errors": self.errors,
            "throttled": self.throttled,
            "distinct_messages": len(self.per_message),
            "duplicates": duplicates,
            "accepted_ids": sorted(self.per_message),
            "busiest_second": busiest_second(self.accepted_at),
            "over_rate": over_rate(self.accepted_at, rate_limit) if rate_limit else 0,
            "first_at": self.accepted_at[0] if self.accepted_at else None,
            "last_at": self.accepted_at[-1] if self.accepted_at else None,
            "clusters": clusters(self.accepted_at),
            "connections": self.connections,
            "received_ids": sorted(self.received),
            "received_at": self.received_at,
        }


def clusters(times: list[float], gap: float = 0.2) -> list[tuple[float, float, int]]:
    """Bursts of acceptances (start, end, count), relative to the first: how batches arrived."""
    found, start = [], 0
    for index in range(1, len(times) + 1):
        if index == len(times) or times[index] - times[index - 1] > gap:
            found.append((round(times[start] - times[0], 3), round(times[index - 1] - times[0], 3), index - start))
            start = index
    return found


def busiest_second(times: list[float]) -> int:
    """The most acceptances in any sliding one-second span."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def over_rate(times: list[float], rate: float) -> int:
    """How many acceptances landed in a sliding second that already held ``rate`` of them."""
    over, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        if end - start + 1 > rate:
            over += 1
    return over


class Endpoint:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviour: Behaviour | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.host, self.port = host, port
        self.tls = tls
        self.behaviour = behaviour or Behaviour()
        self.stats = Stats()
        self._sid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # --- serving ------------------------------------------------------------------------------

    async def serve(self) -> None:
        if self.behaviour.backlog or self.behaviour.accept_delay:
            await self._serve_slowly()
            return
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=2048, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    async def _serve_slowly(self) -> None:
        """Accept one connection at a time, pausing after each, from a small listen backlog: the
        kernel drops SYNs past the backlog, and the client tries again a second later."""
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(self.behaviour.backlog or 2048)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._ready.set()
        with listener:
            while True:
                accepted, _ = await loop.sock_accept(listener)
                reader = asyncio.StreamReader()
                protocol = asyncio.StreamReaderProtocol(reader, self._connection)
                await loop.connect_accepted_socket(lambda protocol=protocol: protocol, accepted, ssl=self.tls)
                if self.behaviour.accept_delay:
                    await asyncio.sleep(self.behaviour.accept_delay)

    def start(self) -> Endpoint:
        """Serve from a daemon thread (for tests); returns once the port is bound."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self.serve())
            except asyncio.CancelledError:
                pass
            # Connections still open (cancelled with the server, or accepted meanwhile) close on this
            # loop, not on a closed one when they are collected.
            with contextlib.suppress(asyncio.CancelledError):  # stop() may cancel this one too
                self._loop.run_until_complete(_close_the_rest())

        self._thread = threading.Thread(target=run, name="loopback-endpoint", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop:  # a slow-connecting edge (_serve_slowly) has no server: its tasks are cancelled all the same
            if self._server:
                self._loop.call_soon_threadsafe(self._server.close)
            for task in asyncio.all_tasks(self._loop):
                self._loop.call_soon_threadsafe(task.cancel)
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def report(self) -> dict:
        return self.stats.as_json(self.behaviour.rate_limit)

    def reset(self) -> None:
        self.stats = Stats()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        opened = time.monotonic()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                status, payload, extra = await self._answer(head, body)
                age = self.behaviour.connection_seconds
                closing = age and time.monotonic() - opened >= age
                if closing:
                    extra += b"Connection: close\r\n"
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
                    % (status, len(payload), extra, payload)
                )
                if closing:
                    await writer.drain()
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, head: bytes, body: bytes) -> tuple[int, bytes, bytes]:
        if head.startswith(b"GET /pid"):
            return 200, b'{"pid": %d}' % os.getpid(), b""
        if head.startswith(b"GET /count"):
            return 200, b'{"accepted": %d}' % self.stats.accepted, b""
        if head.startswith(b"GET /stats"):
            return 200, json.dumps(self.report()).encode(), b""
        if head.startswith(b"POST /reset"):
            self.reset()
            return 200, b"{}", b""
        behaviour = self.behaviour
        if behaviour.strict:
            self._received(body)
        if behaviour.latency:
            await asyncio.sleep(behaviour.latency)
        self.stats.requests += 1
        if b"/sendbulk/ " in head[:200]:
            return self._sendbulk(body)
        if behaviour.strict:
            return self._strict(body)
        self._sid += 1
        self.stats.accepted += 1
        return 201, b'{"sid": "SM%032x", "status": "queued"}' % self._sid, b""

    def _sendbulk(self, body: bytes) -> tuple[int, bytes, bytes]:
        """A sendbulk gateway's answer: one response per smslist item, each with a message id."""
        responses = []
        for item in json.loads(body)["smslist"]:
            self._sid += 1
            responses.append(
                {"response-code": 200, "response-description": "Success", "mobile": item["mobile"],
                 "clientsmsid": item["clientsmsid"], "messageid": str(self._sid), "networkid": 1}
            )  # fmt: skip
        self.stats.accepted += len(responses)
        return 200, json.dumps({"responses": responses}).encode(), b""

    def _received(self, body: bytes) -> None:
        """The endpoint's own log of what was written to it, answered or not (a worker killed while
        waiting for the answer left it here): what an ``unknown`` row may have been."""
        found = MESSAGE_ID.search(body)
        if found:
            now = time.monotonic()
            self.stats.received.setdefault(int(found.group(1) or found.group(2)), now)
            self.stats.received_at.append(now)

    def _strict(self, body: bytes) -> tuple[int, bytes, bytes]:
        behaviour, stats = self.behaviour, self.stats
        draw = random.random()
        if draw < behaviour.throttle_share:
            stats.throttled += 1
            retry = b"Retry-After: %d\r\n" % max(1, round(behaviour.retry_after))
            return 429, b'{"code": 20429, "message": "Too Many Requests"}', retry
        if draw < behaviour.throttle_share + behaviour.error_share:
            stats.errors += 1
            return 500, b'{"code": 20500, "message": "Internal Server Error"}', b""
        found = MESSAGE_ID.search(body)
        message_id = int(found.group(1) or found.group(2)) if found else 0
        stats.per_message[message_id] += 1
        stats.accepted += 1
        stats.accepted_at.append(time.monotonic())
        self._sid += 1
        return 201, b'{"sid": "SM%032x", "status": "queued"}' % self._sid, b""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--strict", action="store_true", help="count per message id, check the rate")
    parser.add_argument("--errors", type=float, default=0.0, help="share of requests answered 500")
    parser.add_argument("--throttles", type=float, default=0.0, help="share answered 429 with Retry-After")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="count acceptances over this per second")
    parser.add_argument("--backlog", type=int, default=0, help="a small listen backlog (a slow-connecting edge)")
    parser.add_argument("--accept-delay", type=float, default=0.0, help="seconds to pause after each accept")
    parser.add_argument("--connection-seconds", type=float, default=0.0, help="close connections this old")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    args = parser.parse_args()
    behaviour = Behaviour(
        latency=args.latency,
        strict=args.strict,
        error_share=args.errors,
        throttle_share=args.throttles,
        rate_limit=args.rate_limit,
        backlog=args.backlog,
        accept_delay=args.accept_delay,
        connection_seconds=args.connection_seconds,
    )
    endpoint = Endpoint(args.host, args.port, behaviour, tls=server_context(*args.tls) if args.tls else None)
    try:
        asyncio.run(endpoint.serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()


async def _close_the_rest() -> None:
    """Cancel this loop's other tasks and wait for them to finish."""
    left = asyncio.all_tasks() - {asyncio.current_task()}
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left)

"""A load generator cheap enough not to be what it measures: prepared requests over raw asyncio.

No run() here: this module is a helper, not a bench.

gunicorn's sync workers close every connection after one answer, so each request is a new TCP
connection. A request is prepared once (the whole HTTP/1.1 text), and each exchange is an asyncio
Protocol that writes it and reads until the server closes: about a hundred microseconds of client
CPU, a third of what aiohttp's client spends. The client shares the machine's two cores with the
server, so every result carries the client's own CPU use: near 1.0 (one core busy) the client, not
the server, set the rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    """What one run of requests came to."""

    seconds: float  # wall time from the first start to the last answer
    times: list[float] = field(default_factory=list)  # each answer's time in s (open loop: from its scheduled start)
    failures: dict[int, int] = field(default_factory=dict)  # status (0: no answer) -> how many
    client_cpu: float = 0.0  # this process's CPU seconds over the run
    answered: set[int] = field(default_factory=set)  # which of the prepared requests got a 200 at least once

    @property
    def done(self) -> int:
        return len(self.times)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def client_share(self) -> float:
        """The client's CPU as a share of one core: near 1.0 means the client was the bottleneck."""
        return self.client_cpu / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else 0.0

    def add(self, other: Result) -> Result:
        """This run and ``other`` taken together (rounds of one measurement)."""
        failures = dict(self.failures)
        for status, count in other.failures.items():
            failures[status] = failures.get(status, 0) + count
        cpu = self.client_cpu + other.client_cpu
        answered = self.answered | other.answered
        return Result(self.seconds + other.seconds, self.times + other.times, failures, cpu, answered)

    def failed(self) -> int:
        return sum(self.failures.values())

    def describe_failures(self) -> str:
        if not self.failures:
            return "none failed"
        return ", ".join(f"{count} answered {status or 'nothing'}" for status, count in sorted(self.failures.items()))


class _Exchange(asyncio.Protocol):
    """One request on its own connection; resolves to the answer's status code (0 if none)."""

    def __init__(self, request: bytes, answered: asyncio.Future) -> None:
        self.request, self.answered, self.head = request, answered, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if len(self.head) < 12:
            self.head += data[:12]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            status = self.head[9:12]
            self.answered.set_result(int(status) if status.isdigit() else 0)


async def exchange(host: str, port: int, request: bytes) -> int:
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    try:
        await loop.create_connection(lambda: _Exchange(request, answered), host, port)
    except OSError:
        return 0
    return await answered


def closed_loop(host: str, port: int, requests: list[bytes], concurrency: int, seconds: float, ok: int = 200) -> Result:
    """For ``seconds``, keep ``concurrency`` requests in flight (cycling through ``requests``), each
    started as soon as one answers; an answer other than ``ok`` (a redirect's 302, say) is a failure."""
    return asyncio.run(_closed_loop(host, port, requests, concurrency, seconds, ok))


async def _closed_loop(
    host: str, port: int, requests: list[bytes], concurrency: int, seconds: float, ok: int = 200
) -> Result:
    result = Result(0.0)
    cpu, started = time.process_time(), time.perf_counter()
    stop = started + seconds
    next_number = 0

    async def client() -> None:
        nonlocal next_number
        while time.perf_counter() < stop:
            number, next_number = next_number, next_number + 1
            sent = time.perf_counter()
            status = await exchange(host, port, requests[number % len(requests)])
            result.times.append(time.perf_counter() - sent)
            if status == ok:
                result.answered.add(number % len(requests))
            else:
                result.failures[status] = result.failures.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds, result.client_cpu = time.perf_counter() - started, time.process_time() - cpu
    return result


def open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> Result:
    """Start requests on a fixed schedule, ``rate`` a second, whatever the server does; each answer's
    time counts from its scheduled start, so a server that falls behind shows it in the tail."""
    return asyncio.run(_open_loop(host, port, requests, rate, seconds))


async def _open_loop(host: str, port: int, requests: list[bytes], rate: float, seconds: float) -> Result:
    result = Result(0.0)
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    start = loop.time() + 0.05
    total = int(rate * seconds)

    async def one(number: int, due: float) -> None:
        status = await exchange(host, port, requests[number % len(requests)])
        result.times.append(loop.time() - due)
        if status == 200:
            result.answered.add(number % len(requests))
        else:
            result.failures[status] = result.failures.get(status, 0) + 1

    tasks = []
    for number in range(total):
        due = start + number / rate
        wait = due - loop.time()
        if wait > 0.0005:  # starts due within half a millisecond go together (timer granularity)
            await asyncio.sleep(wait)
        tasks.append(asyncio.ensure_future(one(number, due)))
    await asyncio.gather(*tasks)
    result.seconds, result.client_cpu = loop.time() - start, time.process_time() - cpu
    return result


def load_average() -> str:
    """The machine's 1-minute load average, to print beside each figure (2 cores: 2.0 is busy)."""
    return f"load {os.getloadavg()[0]:.1f}"

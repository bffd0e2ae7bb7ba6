"""A minimal provider and its loopback fake, for measuring the pipeline rather than a provider.

The provider posts a batch of messages as JSON to ``<api_base_url>/messages`` through the shared
HTTP helper; the fake counts every message by arrival time, by worker, and answers 429 past its
messages-per-second limit (FakeProvider's one-second windows, as a provider counts).
"""

from __future__ import annotations

import os
import time

from providers import http
from providers.base import Outcome, OutgoingMessage, Provider, SendResult
from providers.fakes.server import FakeProvider, FakeRequest, FakeResponse

# Set per worker process by the bench, so the fake can tell who sent what.
WORKER_LABEL = os.environ.get("BENCH_WORKER", "")


class LoopbackProvider(Provider):
    code = "loopback"
    label = "Loopback (bench only)"
    credential_fields = {"token": "Token"}
    max_batch_size = 100
    deduplicates_by_our_id = True  # the fake keeps nothing; a resend cannot bother anyone
    default_rate_limit = 50.0

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        token = self.channel.credentials["token"]
        body = {"messages": [{"id": m.id, "to": m.to, "text": m.text} for m in messages]}
        headers = {"Authorization": f"Bearer {token}", "X-Bench-Worker": WORKER_LABEL or str(os.getppid())}
        try:
            response = http.request(
                "POST", f"{self.channel.api_base_url}/messages", json=body, headers=headers, secrets=[token]
            )
        except http.NotSent as error:
            return [SendResult(m.id, Outcome.RETRY, error_message=error.message) for m in messages]
        except http.NoAnswer as error:
            return [SendResult(m.id, Outcome.UNKNOWN, error_message=error.message) for m in messages]
        if response.status_code == 429:
            wait = http.retry_after_seconds(response)
            return [SendResult(m.id, Outcome.RETRY, error_code="429", retry_after=wait, throttled=True)
                    for m in messages]  # fmt: skip
        if response.status_code != 200:
            reason = f"HTTP {response.status_code}"
            return [SendResult(m.id, Outcome.FAILED, error_code=str(response.status_code), error_message=reason)
                    for m in messages]  # fmt: skip
        return [SendResult(m.id, Outcome.ACCEPTED, provider_message_id=f"LB{m.id}") for m in messages]


class CountingFake(FakeProvider):
    """Accepts POST /messages; keeps (arrival time, messages, worker) for every accepted request."""

    name = "loopback"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, int, str]] = []

    def routes(self):
        return {("POST", "/messages"): self.accept}

    def accept(self, request: FakeRequest) -> FakeResponse:
        count = len(request.json()["messages"])
        if self.over_rate(count):
            return FakeResponse(429, {"message": "Too many requests"}, headers={"Retry-After": "1"})
        with self.lock:
            self.arrivals.append((time.monotonic(), count, request.headers.get("X-Bench-Worker", "")))
        return FakeResponse(200, {"accepted": count})

    def accepted(self) -> int:
        return sum(count for _, count, _ in self.arrivals)

    def measured_rate(self) -> float:
        """Messages per second between the first and the last accepted request."""
        if len(self.arrivals) < 2:
            return 0.0
        span = self.arrivals[-1][0] - self.arrivals[0][0]
        return (self.accepted() - self.arrivals[-1][1]) / span if span > 0 else 0.0

    def busiest_second(self) -> int:
        """The most messages that arrived in any one-second span."""
        best, start, in_window = 0, 0, 0
        for at, count, _ in self.arrivals:
            in_window += count
            while self.arrivals[start][0] <= at - 1.0:
                in_window -= self.arrivals[start][1]
                start += 1
            best = max(best, in_window)
        return best

    def per_worker(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, count, worker in self.arrivals:
            counts[worker] = counts.get(worker, 0) + count
        return counts

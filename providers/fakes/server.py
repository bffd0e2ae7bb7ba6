"""A small threaded HTTP server for the local provider fakes (tests and the `make run` demo).

Each fake subclasses FakeProvider and declares routes. The server adds what every fake needs:
configurable latency, a random error rate, a messages-per-second limit answered with 429, a log
of what it received, and status callbacks sent back after a delay, like the real providers.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A batch's requests all connect at once; the default backlog of 5 dropped some of them, which
    # then waited for the kernel to retry the connection.
    request_queue_size = 256


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class FakeResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[FakeRequest], FakeResponse]


@dataclass
class Behaviour:
    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # share of requests answered with a 500
    rate_limit: float = 0.0  # messages per second before answering 429 (0 = no limit)
    callback_delay: float = 0.2  # seconds before status callbacks are sent
    # How a bulk request is answered once it has been acted on (messages created, receipts on
    # their way): "normal", "error" (HTTP bulk_error_status) or "garbage" (200, not JSON).
    bulk_answer: str = "normal"
    bulk_error_status: int = 500


BULK_ANSWERS = ("normal", "error", "garbage")
GARBAGE = b"<html><body>502 upstream sent an invalid response\x00\xff</body>"


def bulk_answer(behaviour: Behaviour, answer: FakeResponse) -> FakeResponse:
    """The answer to a bulk request that was acted on, as the behaviour wants it broken (or not)."""
    if behaviour.bulk_answer == "error":
        return FakeResponse(behaviour.bulk_error_status, {"message": "simulated error after acting on the request"})
    if behaviour.bulk_answer == "garbage":
        return FakeResponse(200, GARBAGE, {"Content-Type": "text/html"})
    return answer


class FakeProvider:
    """Subclasses fill ``routes`` ({(method, path): handler}) and may send callbacks."""

    name = "fake"

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.received: list[FakeRequest] = []
        self.lock = threading.Lock()
        self._window_start = time.monotonic()
        self._window_count = 0
        self.rejected_for_rate = 0
        self.server: ThreadingHTTPServer | None = None
        self.base_url = ""  # set by start()
        # Cleared by hold_callbacks(): callbacks wait until release_callbacks() (a test on SQLite
        # lets its worker finish before the live server takes their writes).
        self.callbacks_go = threading.Event()
        self.callbacks_go.set()

    def routes(self) -> dict[tuple[str, str], Route]:
        raise NotImplementedError

    def forget(self, behaviour: Behaviour | None) -> None:
        """Forget what was received and take new behaviour (one server can serve many tests)."""
        self.behaviour = behaviour or Behaviour()
        self._window_start, self._window_count, self.rejected_for_rate = time.monotonic(), 0, 0
        self.received.clear()
        self.callbacks_go.set()

    def hold_callbacks(self) -> None:
        self.callbacks_go.clear()

    def release_callbacks(self) -> None:
        self.callbacks_go.set()

    def wait_to_call_back(self) -> None:
        """Called by a callback's thread before it posts: waits while callbacks are held (at most a minute)."""
        self.callbacks_go.wait(60)

    # --- limits -----------------------------------------------------------------------------

    def over_rate(self, messages: int = 1) -> bool:
        """True when taking ``messages`` now would exceed the configured rate (1-second windows)."""
        if not self.behaviour.rate_limit:
            return False
        with self.lock:
            now = time.monotonic()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            if self._window_count + messages > self.behaviour.rate_limit * 1.0 + 1e-9:
                self.rejected_for_rate += 1
                return True
            self._window_count += messages
            return False

    # --- callbacks --------------------------------------------------------------------------

    def callback_later(self, url: str, *, data: dict | None = None, json_body: Any = None, headers=None) -> None:
        """POST a status callback after the configured delay, on a background thread."""

        def send() -> None:
            self.wait_to_call_back()
            time.sleep(self.behaviour.callback_delay)
            try:
                requests.post(url, data=data, json=json_body, headers=headers or {}, timeout=10)
            except requests.RequestException as error:
                log.info("%s callback to %s failed: %s", self.name, url, error)

        threading.Thread(target=send, daemon=True).start()

    # --- serving ----------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse:
        with self.lock:
            self.received.append(request)
        if self.behaviour.latency:
            time.sleep(self.behaviour.latency)
        if self.behaviour.error_rate and random.random() < self.behaviour.error_rate:
            return FakeResponse(500, {"message": "simulated server error"})
        route = self.routes().get((request.method, urlsplit(request.path).path))
        if route is None:
            return FakeResponse(404, {"message": f"no route {request.method} {request.path}"})
        return route(request)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a background thread; returns the base URL (http://127.0.0.1:<port>)."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every small answer waits ~40 ms for a delayed ACK

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = FakeRequest(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), self.rfile.read(length)
                )
                response = fake.handle(request)
                body = response.body
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(response.status)
                self.send_header("Content-Type", response.headers.pop("Content-Type", "application/json"))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args) -> None:  # quiet: tests read fake.received instead
                pass

        self.server = _Server((host, port), Handler)
        # A short poll interval makes stop() quick (serve_forever checks for shutdown this often).
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base_url = f"http://{host}:{self.server.server_address[1]}"
        return self.base_url

    def __enter__(self) -> FakeProvider:
        """``with FakeTwilio(...) as fake:`` serves on a free loopback port until the block ends."""
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def command_line(description: str, port: int) -> argparse.ArgumentParser:
    """The options every fake takes when run on its own (`python -m providers.<name>.fake`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with a 500")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="messages per second before 429 (0 = none)")
    parser.add_argument("--callback-delay", type=float, default=0.2, help="seconds before status callbacks")
    parser.add_argument(
        "--bulk-answer",
        choices=BULK_ANSWERS,
        default="normal",
        help="after acting on a bulk request, answer normally, with an HTTP error, or with garbage",
    )
    parser.add_argument("--bulk-error-status", type=int, default=500, help="the HTTP status of --bulk-answer error")
    return parser


def behaviour_from(args: argparse.Namespace) -> Behaviour:
    return Behaviour(
        args.latency, args.error_rate, args.rate_limit, args.callback_delay, args.bulk_answer, args.bulk_error_status
    )


def serve_until_stopped(fake: FakeProvider, args: argparse.Namespace, banner: str) -> None:
    """Serve until Ctrl-C or SIGTERM; ``banner`` may name {url}, printed once listening."""
    url = fake.start(args.host, args.port)
    print(banner.format(url=url), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()

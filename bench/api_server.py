"""Helpers for the API benches: the app under gunicorn, a key and a channel, and timed HTTP calls.

No run() here: this module is a helper, not a bench.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BASE_DIR, forget_channel, free_port, prepare_django


@dataclass
class Api:
    host: str
    port: int
    key: str
    channel_key: str
    server_pid: int

    def server_cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's worker processes (Linux /proc), to tell the server's
        cost apart from the load generator's and from whatever else shares the machine."""
        total = 0.0
        children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def post(self, path: str, body: dict | bytes) -> tuple[int, dict, float]:
        """POST JSON on a new connection (gunicorn's sync workers close each one); (status, answer, seconds)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"apikey": self.key, "Content-Type": "application/json"}
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("POST", path, body=data, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
        finally:
            connection.close()
        return response.status, answer, time.perf_counter() - started

    def raw_post(self, path: str, body: dict, idempotency_key: str = "") -> bytes:
        """A whole HTTP/1.1 request, built once, for the asyncio load generator."""
        data = json.dumps(body).encode()
        keyed = f"Idempotency-Key: {idempotency_key}\r\n" if idempotency_key else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\napikey: {self.key}\r\n{keyed}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + data

    async def send_raw(self, request: bytes) -> int:
        """Send a prepared request on a new connection; the answer's status code.

        A few hundred microseconds of client CPU, so that the load generator, which shares the
        machine's two cores with the server, takes as little from it as possible.
        """
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(request)
            answer = await reader.read()
        finally:
            writer.close()
        return int(answer[9:12])


PRODUCT_APP = "messaging_site.wsgi:application"


@contextmanager
def gunicorn(
    workers: int = 2, app: str = PRODUCT_APP, production: bool = False, **settings: str
) -> Iterator[tuple[str, int, int]]:
    """``app`` under gunicorn (``workers`` processes), on the bench's database and Redis.

    ``production``: as the README's production section runs it, with its configuration file
    (messaging_site/gunicorn_conf.py: the redacted access log, written here to /dev/null), DEBUG
    off and PUBLIC_BASE_URL the address served (Twilio signs that URL). ``settings`` go into
    the server's environment.
    """
    port = free_port()
    env = {
        **os.environ,
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE_LIMIT_PER_MINUTE": "1000000000",  # the benches measure the API, not its limiter
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    command = [
        sys.executable, "-m", "gunicorn", app,
        "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
    ]  # fmt: skip
    if production:
        command[4:4] = ["-c", "python:messaging_site.gunicorn_conf"]
        env.update(DEBUG="false", PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    output = subprocess.DEVNULL if production else None
    server = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=output)
    try:
        wait_until_up("127.0.0.1", port, server)
        yield "127.0.0.1", port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_until_up(host: str, port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode} before answering.")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", "/api/openapi.json")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s.")


@contextmanager
def api_under_gunicorn(workers: int = 2, **options) -> Iterator[Api]:
    """A staff user's key and a sandbox channel, served by gunicorn; all removed afterwards."""
    prepare_django()
    import django_rq
    from django.contrib.auth import get_user_model

    from campaigns.models import ApiKey, Campaign
    from providers.models import Channel

    suffix = secrets.token_hex(4)
    user = get_user_model().objects.create_user(f"bench-api-{suffix}", is_staff=True)
    raw_key = ApiKey.issue(user, name="bench")[1]
    channel = Channel.objects.create(name=f"Bench API {suffix}", provider="sandbox", rate_limit=1_000_000)
    try:
        with gunicorn(workers, **options) as (host, port, pid):
            yield Api(host, port, raw_key, channel.channel_key, pid)
    finally:
        # Nothing is sent: the queued jobs go, so that the next bench finds an idle queue.
        for name in ("high", "default"):  # API messages and bulk jobs
            django_rq.get_queue(name).empty()
        Campaign.objects.filter(channel=channel).delete()
        forget_channel(channel)
        user.delete()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

"""Dispatch efficiency: the whole pipeline against a Twilio-shaped loopback endpoint, beside a bare loop.

Issue 10's targets, each measured side by side in the same run against the same endpoint
(bench/endpoint.py, a raw asyncio responder in its own process, cheaper per request than any
client):

- no latency: one worker (claim, render, rate limiter, HTTP, status write, via real `rqworker`
  processes running a campaign's dispatch jobs) >= 0.80 of a bare requests.Session loop with
  8 threads; two workers >= 1.7 x one;
- 200 ms of latency: >= 500 msg/s per worker, and >= 0.80 of a bare loop with 128 threads.

A worker's rate is the campaign's messages over the span between its first and last ``sent_at``
(the worker processes' start-up is not counted). Sizes: BENCH_DISPATCH_MESSAGES (default 20,000).

    python -m bench dispatch
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.harness import BASE_DIR, free_port, prepare_django, start_workers, wait_for

MESSAGES = int(os.environ.get("BENCH_DISPATCH_MESSAGES", "20000"))
BODY = {"To": "+14155550123", "From": "+14155550100", "Body": "Hello Ann, your code is 1234"}


class EndpointProcess:
    """bench.endpoint in its own process, so its CPU is not the client's.

    ``tls``: (certificate, key) files to serve HTTPS with; the certificate is then also what the
    bench trusts. The bench's own questions (/stats, /count) go over one kept-alive connection, so
    they barely add to the endpoint's count of connections (one, plus the start-up check's)."""

    def __init__(
        self,
        latency: float = 0.0,
        port: int | None = None,
        extra: list[str] | None = None,
        tls: tuple[str, str] | None = None,
    ):
        import requests

        self.port = port or free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bench.endpoint", "--port", str(self.port), "--latency", str(latency)]
        command.extend(extra or [])
        command.extend(["--tls", *tls] if tls else [])
        self.process = subprocess.Popen(command, cwd=BASE_DIR, stdin=subprocess.DEVNULL)
        self.session = requests.Session()
        self.session.verify = tls[0] if tls else True
        self.session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, wins over the certificate
        _wait_for_port(self.port, self.process, self.url, self.session)

    def report(self) -> dict:
        """The endpoint's counters (strict mode: per message id, rate checks)."""
        return self.session.get(f"{self.url}/stats", timeout=30).json()

    def accepted(self) -> int:
        return self.session.get(f"{self.url}/count", timeout=30).json()["accepted"]

    def stop(self) -> None:
        self.session.close()
        self.process.terminate()
        self.process.wait(10)


def _wait_for_port(port: int, process: subprocess.Popen, url: str | None = None, session=None) -> None:
    """Wait until ``process`` answers on ``port``: not merely until something listens there.

    Two runs side by side once shared a fixed port: the second's endpoint could not bind and
    exited, the first's answered in its place, and one endpoint counted both runs' message ids
    (the same ids, each run on a database of its own) as sent twice.
    """
    import requests

    url = url or f"http://127.0.0.1:{port}"
    ask = session or requests
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The loopback endpoint on port {port} exited ({process.returncode}): is the port taken?")
        try:
            answered = ask.get(f"{url}/pid", timeout=1).json()["pid"]
        except (requests.RequestException, ValueError, KeyError):
            time.sleep(0.05)
            continue
        if answered != process.pid:
            _stop(process)
            raise SystemExit(f"The port {port} is another endpoint's (process {answered}), not this run's.")
        return
    _stop(process)
    raise SystemExit(f"The loopback endpoint did not start on port {port}.")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


def bare_loop(url: str, threads: int, requests_count: int) -> float:
    """Requests per second of a plain requests.Session loop: the baseline the issue names."""
    import requests

    local = threading.local()
    target = f"{url}/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"

    def one(_: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.post(target, data=BODY, auth=("AC", "token"), timeout=(5, 30))
        response.json()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(min(threads, requests_count))))  # connections open, as the pipeline's are
        started = time.monotonic()
        list(pool.map(one, range(requests_count)))
        return requests_count / (time.monotonic() - started)


def pipeline(url: str, workers: int, messages: int) -> float:
    """Messages per second through `workers` rqworker processes dispatching one campaign."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from campaigns.models import Campaign, OutboundMessage
    from campaigns.pipeline.queueing import MAX_PARALLEL_DISPATCH, enqueue_dispatch
    from providers.models import Channel

    tag = secrets.token_hex(4)
    channel = Channel.objects.create(
        name=f"Bench dispatch {tag}",
        provider="twlo",
        sender="+14155550100",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": secrets.token_hex(16)},
        rate_limit=100_000,  # far above what a worker reaches: the pipeline is measured, not the limit
        api_base_url=url,
    )
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=f"Bench dispatch {tag}",
        channel=channel,
        text="Hello {{ name }}, your code is {{ code }}",
        status=Campaign.Status.RUNNING,
        started_at=now,
        fanned_out_at=now,
        recipient_count=messages,
    )
    try:
        OutboundMessage.objects.bulk_create(
            (
                OutboundMessage(
                    campaign=campaign,
                    channel=channel,
                    to=f"+1415{n:07d}",
                    recipient_key=f"+1415{n:07d}",
                    variables={"name": f"Ann {n}", "code": n % 10_000},
                    status=OutboundMessage.Status.QUEUED,
                )
                for n in range(messages)
            ),
            batch_size=5000,
        )
        enqueue_dispatch(campaign.pk, parallel=max(MAX_PARALLEL_DISPATCH, workers))
        wait_for(start_workers(workers), timeout=600)
        sent = campaign.messages.filter(status=OutboundMessage.Status.SENT)
        span = sent.aggregate(first=Min("sent_at"), last=Max("sent_at"))
        count = sent.count()
        if count != messages:
            statuses = Counter(campaign.messages.values_list("status", flat=True))
            raise SystemExit(f"dispatch: {count:,} of {messages:,} sent ({statuses}).")
        return count / max(0.001, (span["last"] - span["first"]).total_seconds())
    finally:
        OutboundMessage.objects.filter(channel=channel).delete()
        Campaign.objects.filter(channel=channel).delete()
        channel.delete()


def run() -> list[dict]:
    prepare_django()
    rows = []
    endpoint = EndpointProcess(0.0)
    try:
        bare8 = bare_loop(endpoint.url, 8, MESSAGES // 2)
        one = pipeline(endpoint.url, 1, MESSAGES)
        two = pipeline(endpoint.url, 2, MESSAGES * 2)
    finally:
        endpoint.stop()
    rows.append(row("dispatch, no latency: one worker / bare 8-thread loop", one, bare8, 0.80, "msg/s"))
    shared = f"{os.cpu_count()} cores run both workers, PostgreSQL and the endpoint"
    rows.append(row("dispatch, no latency: two workers / one worker", two, one, 1.7, "msg/s", shared))
    slow = EndpointProcess(0.2)
    try:
        bare128 = bare_loop(slow.url, 128, MESSAGES // 2)
        one_slow = pipeline(slow.url, 1, MESSAGES)
    finally:
        slow.stop()
    rows.append(row("dispatch, 200 ms latency: one worker / bare 128-thread loop", one_slow, bare128, 0.80, "msg/s"))
    rows.append(
        {
            "name": "dispatch, 200 ms latency: one worker",
            "figure": round(one_slow),
            "unit": "msg/s",
            "target": 500,
            "ratio": one_slow / 500,
            "note": f"{MESSAGES:,} messages",
        }
    )
    return rows


def row(name: str, figure: float, baseline: float, target: float, unit: str, short_because: str = "") -> dict:
    """A ratio row; ``short_because`` is added to the note when the target is not met."""
    ratio_to_baseline = figure / baseline
    why = f"; short because {short_because}" if short_because and ratio_to_baseline < target else ""
    return {
        "name": name,
        "figure": round(ratio_to_baseline, 2),
        "unit": "x baseline",
        "target": target,
        "ratio": ratio_to_baseline / target,
        "note": f"{figure:,.0f} {unit} vs baseline {baseline:,.0f} {unit}{why}",
    }

"""Tracked links' redirects in a burst (issue 18): GET /l/<code> under production gunicorn.

gunicorn runs as the README's production section says (4 workers, DEBUG off) on PostgreSQL, and
in the same run the bare WSGI app (bench/bare_wsgi.py) under the same settings, with the same
client, taking turns in rounds so both see the same neighbours (as bench/receipts.py does).

Targets:
- redirects answered at concurrency 64: at least 0.60 of the bare app's rate;
- every click answered 302 is counted: after the click worker's batches (campaigns/links/clicks.py)
  the links' click counts add up to the clicks answered, none lost.

Each redirect reads its link (one indexed SELECT, the campaign's UTM by a LEFT JOIN) and logs the
click with one INSERT; the worker folds the log into first_click_at / click_count in batches.

Measured on the 2-core machine shared with other sessions (load 4.6): 344 redirects/s, 0.23 of the
bare app's 1,477/s, short of the target; every click answered counted (8,634 of 8,634). The ORM's
SELECT then INSERT cost 3.0 ms of worker CPU a redirect; one statement on a raw cursor (a CTE) 1.8
ms, against the bare app's 0.4. What is left is Django's request path (handler, the middleware that
guards every request, the connection's health check): the next step is answering /l/ in a WSGI
route in front of Django, and measuring it on an idle machine.

Then /l/ took the fast lane (messaging_site/fast_lane.py: the view called directly with only the
middleware that acts on machine requests, no URL resolver, no health check's SELECT 1, the CTE on
a plain psycopg cursor: one round trip). Same run, before at load 6.3: 120/s, 0.13 of the bare
app's 906/s, 2.08 ms of worker CPU a redirect against 0.45; after at load 14.8: 137/s, 0.34 of
the bare app's 399/s, 1.45 ms against 0.48; every click answered counted. In one process the
lane costs 400 to 570 µs a redirect, of which the statement 150 (a durable commit: the click is
logged before the 302) and the lane and middleware about 170; what is left is that round trip
and Django's request and response objects.

Then GET and HEAD on /l/ took the plain lane (messaging_site/fast_lane.py PlainLane: the machine
middleware's hooks in a loop and the view called directly, without Django's handler; a request
with cookies still goes through it), and the preview check reads the user agent from META instead
of building request.headers. Same bench, on a machine shared with up to 8 sessions: before at load
6.5, 376/s, 0.26 of the bare app's 1,434/s, 1.21 ms of worker CPU a redirect against 0.35; after
at load 13.9 and 15.2, 109/s and 135/s, 0.41 and 0.42 of the bare app's 266/s and 322/s, 1.55 and
1.53 ms against 0.64 and 0.58; every click answered counted. A cProfile (CPU clock, one process,
load 10, 570 µs a redirect) shows what is left: the statement's round trip and durable commit
(a quarter), the middleware hooks (a sixth), the response's request_finished signal and
HttpResponseRedirect's checks and headers (a tenth each), the UTM parameters added to the address
(urlsplit and parse_qsl, 8%).

Then most redirects skipped Django's request and response (fast_lane.QuickRedirects), the plain
cursor's statements were prepared, the statement stopped joining the campaign (its UTM parameters
kept by each process) and the click log lost its unused index: one process's CPU a redirect went
from 251 to 160 us, PostgreSQL's for the statement from about 300 to 180. The bench now also runs
bench/bare_redirect.py, the product's statement alone on a plain connection with a hand-made 302,
durable and with asynchronous commit. Same run at load 4.1: the product 0.51 of the bare app's
3,156/s (0.57 ms of worker CPU against 0.30); the statement alone 0.59, and 0.75 with asynchronous
commit; every click answered counted. Before this change, at load 3.5: the product 0.32, the
statement alone (without the join) 0.43. What is left is the durable commit: four one-at-a-time
workers each wait for the disk once a click, which no code around the statement can remove. Going
past it needs the click answered before its commit (losing it if PostgreSQL crashed then) or a
server that commits many clicks at once (threads or an event loop per worker, with group commit):
a change of the production setup, not of the redirect.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench import load
from bench.api_server import Api, gunicorn
from bench.harness import forget_channel, prepare_django
from bench.receipts import bare_app

WORKERS = 4
CONCURRENCY = 64
ROUNDS = 3
ROUND_SECONDS = 5
LINKS = 20_000  # a campaign's recipients' links; the burst cycles through them
AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
TARGET_SHARE = 0.60
BARE_REDIRECT = "bench.bare_redirect:application"  # the product's statement alone, for the same run


def unavailable() -> str | None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "clicks measures production's setup: set DATABASE_URL=postgres://... (PostgreSQL)."
    return None


@dataclass
class Measured:
    result: load.Result
    server_cpu_ms: float
    load: str


def measure(server: Api, requests: list[bytes], ok: int) -> Measured:
    cpu_before = server.server_cpu_seconds()
    result = load.closed_loop(server.host, server.port, requests, CONCURRENCY, ROUND_SECONDS, ok=ok)
    cpu_ms = (server.server_cpu_seconds() - cpu_before) * 1000 / max(result.done, 1)
    return Measured(result, cpu_ms, load.load_average())


def together(rounds: list[Measured]) -> Measured:
    result = rounds[0].result
    for other in rounds[1:]:
        result = result.add(other.result)
    cpu_ms = sum(r.server_cpu_ms * r.result.done for r in rounds) / max(result.done, 1)
    return Measured(result, cpu_ms, rounds[-1].load)


@contextmanager
def campaign_links(count: int) -> Iterator[list[str]]:
    """A campaign with UTM parameters and ``count`` live short links; all removed afterwards."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.links.codes import new_code
    from campaigns.models import Campaign, LinkClick, ShortLink
    from providers.models import Channel

    channel = Channel.objects.create(name=f"Bench clicks {secrets.token_hex(4)}", provider="sandbox")
    campaign = Campaign.objects.create(
        name="Bench clicks", channel=channel, text="https://shop.example/sale", link_utm="utm_source=sms"
    )
    now = timezone.now()
    codes = list({new_code() for _ in range(count)})
    links = [
        ShortLink(
            code=code,
            message_id=0,
            campaign=campaign,
            url=f"https://shop.example/sale?r={n}",
            created_at=now,
            expires_at=now + timedelta(days=90),
        )
        for n, code in enumerate(codes)
    ]
    ShortLink.objects.bulk_create(links, batch_size=5_000)
    try:
        yield codes
    finally:
        ids = ShortLink.objects.filter(campaign=campaign).values("pk")
        LinkClick.objects.filter(link_id__in=ids).delete()
        ShortLink.objects.filter(campaign=campaign).delete()
        forget_channel(channel)


def click_request(server: Api, code: str) -> bytes:
    return (
        f"GET /l/{code} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUser-Agent: {AGENT}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def apply_all() -> tuple[int, float]:
    """The click worker's part: batches until none wait; (clicks applied, seconds)."""
    from campaigns.links import apply_clicks

    started, applied = time.perf_counter(), 0
    while done := apply_clicks():
        applied += done
    return applied, time.perf_counter() - started


def counted(codes: list[str]) -> int:
    from django.db.models import Sum

    from campaigns.models import ShortLink

    return ShortLink.objects.filter(code__in=codes).aggregate(total=Sum("click_count"))["total"] or 0


def run() -> list[dict]:
    prepare_django()
    with (
        campaign_links(LINKS) as codes,
        gunicorn(WORKERS, production=True) as (host, port, pid),
        bare_app() as bare,
        bare_app(BARE_REDIRECT) as durable,
        bare_app(BARE_REDIRECT, BARE_REDIRECT_COMMIT="off") as quick_commit,
    ):
        product = Api(host, port, "", "", pid)
        requests = [click_request(product, code) for code in codes]
        servers = {"bare": (bare, 200), "durable": (durable, 302), "quick commit": (quick_commit, 302)}
        servers["product"] = (product, 302)
        # Every worker warmed up; the redirects' clicks are counted too, the bare redirects' as well
        # (the same statement on the same links): every 302 answered must be counted.
        warm = [measure(server, requests[:500], ok=ok) for server, ok in servers.values()]
        taken_rounds: dict[str, list[Measured]] = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, (server, ok) in servers.items():
                taken_rounds[name].append(measure(server, requests, ok=ok))
        redirects = [*warm[1:], *(m for name in servers if name != "bare" for m in taken_rounds[name])]
        answered = sum(m.result.done - m.result.failed() for m in redirects)
        applied, seconds = apply_all()
        total = counted(codes)
    measured = {name: together(rounds) for name, rounds in taken_rounds.items()}
    return rows(measured, answered, applied, seconds, total)


def rows(measured: dict[str, Measured], answered: int, applied: int, seconds: float, total: int) -> list[dict]:
    bare, product = measured["bare"], measured["product"]
    share = product.result.rate / bare.result.rate
    durable, quick_commit = (measured[name].result.rate / bare.result.rate for name in ("durable", "quick commit"))
    lost = max(0, answered - total)
    return [
        {
            "name": f"GET /l/<code> redirects, concurrency {CONCURRENCY} (gunicorn {WORKERS} workers, postgresql)",
            "figure": round(product.result.rate, 1),
            "unit": "req/s",
            "target": round(TARGET_SHARE * bare.result.rate),
            "ratio": share / TARGET_SHARE if not product.result.failed() else 0.0,
            "note": f"{share:.2f} of the bare app's {bare.result.rate:,.0f}/s; {product.result.done:,} requests, "
            f"{product.result.describe_failures()}; p50 {product.result.percentile_ms(0.5):.0f} ms; server CPU "
            f"{product.server_cpu_ms:.2f} ms a request (bare app {bare.server_cpu_ms:.2f}); client CPU "
            f"{product.result.client_share:.2f} of a core; same run, the product's statement alone "
            f"(bench/bare_redirect.py): {durable:.2f} of the bare app, {quick_commit:.2f} with asynchronous "
            f"commit; {product.load}",
        },
        {
            "name": "clicks answered 302 and not counted after the click worker's batches",
            "figure": lost,
            "unit": "clicks",
            "target": 0,
            "ratio": 1.0 if lost == 0 and answered else 0.0,
            "note": f"{answered:,} clicks answered 302, {total:,} counted on their links; the worker applied "
            f"{applied:,} logged clicks in {seconds:.1f} s ({applied / max(seconds, 1e-9):,.0f}/s)",
        },
    ]

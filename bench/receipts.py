"""The way back at the send path's speed (issue 17): callbacks and the API under production gunicorn.

gunicorn runs as the README's production section says (4 workers, messaging_site/gunicorn_conf.py
with its redacted access log, DEBUG off) on PostgreSQL, and in the same run a bare WSGI app
(bench/bare_wsgi.py) under the same settings, measured with the same client: the product's figures
are ratios to it, so they say what the product costs, not how fast this machine is today.

Targets:
- signed Twilio status callbacks taken at concurrency 64: at least 0.60 of the bare app's rate;
- p99 at most 50 ms with 1,000 callbacks a second offered (open loop: each answer's time counts
  from its scheduled start);
- 1,000,000 receipts applied, none lost, the backlog drained at 5,000 a second per worker or more;
- POST /message and GET /message/<id>, each at least 0.50 of the bare app's rate;
- a 10,000-recipient POST /messages/bulk answered in 0.5 s or less.

Every figure's note carries the machine's load average (2 cores: above 2 the neighbours were busy)
and the client's CPU as a share of one core (near 1.0: the client, not the server, set the rate),
and the rate rows the gunicorn workers' CPU a request beside the bare app's, which says what the
product costs even when the neighbours take the cores. The bare app and the product take turns in
rounds, so both see the same neighbours. RECEIPTS_BACKLOG=20000 makes the backlog figure quick.

What a profile of a signed status callback showed (cProfile in one process, DEBUG off, PostgreSQL;
CPU ms a callback, on a 2-core machine at load 10), and what was done:
- before (29dc972): 4.6 ms in all. Django's middleware 0.9 (sessions, auth, two-factor, messages,
  CSP built per answer, static files), the channel lookup by token 1.5 (a query, the ORM building
  it, two Fernet decryptions), the signature 0.4, the UPDATE and the outcome counter 1.3, the
  connection's health check 0.1;
- after, 2.2 to 2.8 ms in all: webhook and API requests skip the staff-page middleware
  (messaging_site/machine_requests.py, 0.35), the channel is kept per process until any channel
  changes (providers/webhook_channels.py, 0.25: one Redis GET), and the view makes one INSERT
  (campaigns/receiving applies the receipts in batches). What is left is Django's request and
  response objects, the signature (0.3) and the INSERT (0.8, through bulk_create).
  Under gunicorn the workers spent 3.0 ms a callback against the bare app's 0.6 (7.6 before).
- the fast lane (messaging_site/fast_lane.py, messaging_site/plain_sql.py). cProfile at load 4 to
  10 showed each callback still making five round trips: the health check's SELECT 1, BEGIN, the
  INSERT and COMMIT (bulk_create opens a transaction), and the channel cache's Redis GET; plus the
  people-only middleware's pass-through and the URL resolver. Now the lane calls the view directly
  with only the middleware that acts on machine requests, skips the health check (a dead kept
  connection is replaced and the view run once more) and sends one INSERT on a plain psycopg
  cursor: two round trips (Redis GET, INSERT). Measured in one process at load 10 (CPU µs a
  callback): 1,200 to 1,450 in all; the channel lookup 60 to 135 (the Redis GET 40 to 110), the
  signature 30, the field checks 15, the INSERT 320 to 375 (of which a durable commit's wait costs
  the client about 140 µs of CPU more than an asynchronous one would: waking cache-cold after
  the fsync), the rest Django's request and response. Under gunicorn at load 12 (same run): 2.67
  ms a callback against the bare app's 0.69, 0.30 of its rate (before, at load 3.9: 2.51 against
  0.37, 0.12). What stands between that and 0.60 is the durable INSERT's round trip itself (a
  sync worker sleeps through the fsync and wakes cache-cold; the bare app never sleeps) and
  Django's request objects; the Redis GET could go by checking the kept channel inside the
  INSERT's own statement. The p99 target cannot be judged on a machine where the bare app's own
  p99 at 1,000/s is seconds.
- the plain lane (messaging_site/fast_lane.py PlainLane, 70fca69..a4a8945). cProfile (CPU clock, one
  process, load 7 to 9) of the lane above: Django's handler around the view (an exception converter
  around each middleware, request_started, the ResolverMatch, the response's signals) a third of
  the callback; reading the form and the query into QueryDicts 17% (appendlist checks every field
  again); the Redis GET 13%; the form's UTF-8 check field by field 9%; request.headers (a copy of
  every header, for one) 3%; the ReceivedEvent instances take() built only to read them back 4%.
  Now: the middleware's own hooks run in a loop with Django's semantics and the view is called
  directly (any other method, a request with cookies, or a middleware the lane cannot run goes to
  MachineHandler); the query and form are read into FormDicts (QueryDict's parsing, values appended
  directly); on PostgreSQL Twilio's callbacks use the kept channel without the GET and the INSERT
  checks it (providers/webhook_channels.py write_check: the credentials ciphertext, which every
  save encrypts afresh, the token hash and the provider; a changed channel writes nothing and is
  answered again on a fresh read); the UTF-8 check runs on the whole body first; the signature
  header is read from META. In one process: 1,220 to 1,340 µs of CPU a callback before, 645 to 850
  after (load 8 to 11). Under gunicorn, the same bench on a machine shared with up to 8 sessions:
  before at load 6.2, 374/s, 0.21 of the bare app's 1,822/s, 1.61 ms of worker CPU a callback
  against 0.34; after at load 12.9, 155/s, 0.31 of the bare app's 494/s, 1.81 ms against 0.54
  (callback-only runs between at load 11 to 13.5: 0.37 and 0.39, 2.57 against 0.73 and 1.79
  against 0.60); every callback answered 200 applied. Still short of 0.60: what is left is the
  durable INSERT (its round trip and the commit's wait: about a third of the in-process CPU), the
  signature (HMAC-SHA1 over the sorted form, 5%), and Django's request and response objects with
  the middleware hooks and request_finished (about a fifth). The next step would be sharing one
  INSERT and commit between the callbacks a worker holds at once (threads), which changes the
  gunicorn setup the README names, for the bare app too.

The API, profiled the same way (cProfile over the WSGI handler in one process, PostgreSQL, DEBUG off;
CPU ms a request at load 5 to 10; `make bench ARGS=api_share` runs its rows alone):
- POST /message before (cdceed6): 5.5 ms and 6 queries. The API key by its hash 22% of it (a query
  and the ORM building it), the channel by its key 16%, the suppression list asked twice 22%
  (the request's check, then send_one's), the contact lookup, the ORM's INSERT 12%, three Redis
  round trips (rate, daily quota, the send list) 10%, middleware and Django's request and
  response 5%; JSON and logging too little to show;
- after: 2.0 ms and 1 query. Keys (with their owner and channel scope) and channels are kept per
  process until one changes (campaigns/api/auth.py: a revoked key is refused from the next
  request), read with the rate in one Redis round trip; the INSERT asks the suppression list and
  finds the contact itself (OutboundMessage.insert_unless_suppressed). What is left: the INSERT
  (0.6), the quota and send-list round trips (0.2 each), Django's handler, URL resolution and
  middleware (about 0.4), the connection's health check;
- GET /message/<id>: 2.3 ms and 2 queries before, 0.9 and 1 after (the key kept; the SELECT by
  id written out: the ORM spent four times the query's own cost building it);
- a 10,000-recipient bulk request: 0.50 s of CPU before, 0.39 after (the suppression list in one
  query with an array parameter, where binding 10,000 IN parameters cost 0.1 s; one provider
  object for every recipient's check). What is left is phonenumbers (0.23 s: parsing and
  validating 10,000 numbers against their country's plan), so the answer stays near 0.4 s on a
  quiet machine and well above 0.5 s on a busy one.
- the API's lane (issue 17's second pass; messaging_site/api_lane.py, campaigns/api/). Measured
  this morning on a quiet machine (load 3, before): POST 512/s, 0.14 of the bare app's 3,777/s, the
  gunicorn workers' CPU 2.56 ms a request against the bare app's 0.30 (8.5 times); GET 1,060/s, 0.28
  of 3,849/s, 1.28 ms against 0.28 (4.6 times). cProfile (CPU clock, one process) of a POST then:
  Redis 33% (three round trips: the keys' generation and rate, the daily quota, the send list),
  the INSERT 24% (of which preparing its 30 values through the model's fields two thirds, the
  statement on Django's client-side-binding cursor the rest), Django's handler, the people-only
  middleware's pass-through and the URL resolver 20%, the health check's SELECT 1 4%, the field
  checks 12% (phonenumbers 7%); of a GET, the same admission round trip 34%, the handler and
  middleware 35%, the SELECT with its health check 25%. What was done: the API's paths take a lane
  of their own (only the middleware that acts on machine requests, past the resolver; a kept
  connection checked by polling its socket, not a SELECT 1, and no view run twice); the INSERT and
  the SELECT go on a plain psycopg cursor, server-bound and prepared once per connection, the
  INSERT's fixed defaults prepared once per process; a kept key's quota is taken in the
  admission's own Lua script, and the send list's push is one script: two round trips to Redis
  for a POST, one for a GET, and one to PostgreSQL each. In one process afterwards (CPU ms a
  request at load 9, the lane against Django's path on the same improved views, medians of six
  interleaved rounds): POST 1.97 against 2.18, GET 0.90 against 1.03; cProfile of a POST: Redis
  24% (admission 12, the push 10), the INSERT 20%, the handler 16%, field checks 13%; of a GET:
  Django's handler and the machine middleware 39%, the admission round trip 34%, the SELECT 20%,
  JSON 5%. Under gunicorn the machine was busy all afternoon (load 8 to 14; the bare app took 250
  to 650 requests a second where it takes 3,800 on a quiet one), so the rates moved with the
  neighbours; the CPU a request, against the bare app's in the same run, says more. Three runs
  after the changes (load 12, 13, 8.5): POST 0.20, 0.19 and 0.17 of the bare app, its workers' CPU
  6.5, 5.8 and 5.7 times the bare app's (8.5 this morning); GET 0.25, 0.37 and 0.17, 4.7, 3.9 and
  5.0 times (4.6 this morning, its SELECT's share already small). Neither reaches 0.50: that needs
  the whole machine's CPU for a request (worker, PostgreSQL, Redis, kernel) within twice the bare
  app's, about 1 ms on a quiet machine, and Django's request and response with one round trip to
  Redis and one to PostgreSQL already cost more. What is left to cut: Django's WSGIRequest and
  HttpResponse (a hand-written WSGI answer would have to repeat the middleware's headers and
  checks), the number's parsing by phonenumbers (8% of a POST), and the model object new_one
  builds (6%). The bulk request was not changed: 0.71 to 1.18 s at load 9, 0.37 to 0.45 s of CPU.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from bench import load
from bench.api_bulk import bulk_body
from bench.api_server import Api, api_under_gunicorn, gunicorn
from bench.harness import forget_channel
from bench.receipt_backlog import apply_waiting, drain_row, forget_waiting

WORKERS = 4  # the README's production command: gunicorn ... -w 4
CONCURRENCY = 64
ROUNDS = 3  # the bare app and the product take turns, so both see the same neighbours
ROUND_SECONDS = 5
CALLBACKS_A_ROUND = 4_000  # more than a round takes: each callback is a message's first "delivered"
OFFERED_RATE = 1_000
OFFERED_SECONDS = 5
API_ROUNDS = 2
BULK_ROUNDS = 3

TARGET_CALLBACK_SHARE = 0.60
TARGET_P99_MS = 50
TARGET_API_SHARE = 0.50
TARGET_BULK_SECONDS = 0.5


def unavailable() -> str | None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "receipts measures production's setup: set DATABASE_URL=postgres://... (PostgreSQL)."
    return None


@dataclass
class TwilioChannel:
    """A Twilio channel with its auth token, and sent messages waiting for their receipts."""

    channel: object
    auth_token: str
    messages: list[tuple[int, str]]  # (our id, Twilio's SID), in the order the callbacks use them

    def callbacks(self, api: Api, first: int, count: int) -> list[bytes]:
        """Signed "delivered" callbacks, prepared, for messages[first:first + count]."""
        return [self.callback(api, pk, sid) for pk, sid in self.messages[first : first + count]]

    def callback(self, api: Api, pk: int, sid: str) -> bytes:
        from providers.twilio.signature import compute_signature

        path = f"/webhooks/twlo/{self.channel.webhook_token}/status?m={pk}"
        params = {
            "AccountSid": self.channel.credentials["account_sid"],
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "From": "+15005550006",
            "To": "+14155550100",
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
        }
        body = urlencode(params).encode()
        signature = compute_signature(self.auth_token, f"http://{api.host}:{api.port}{path}", params)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {api.host}:{api.port}\r\nX-Twilio-Signature: {signature}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body


@contextmanager
def twilio_channel(message_count: int) -> Iterator[TwilioChannel]:
    from providers.models import Channel

    auth_token = secrets.token_hex(16)
    channel = Channel.objects.create(
        name=f"Bench receipts {secrets.token_hex(4)}",
        provider="twlo",
        sender="+15005550006",
        credentials={"account_sid": "AC" + secrets.token_hex(16), "auth_token": auth_token},
    )
    try:
        yield TwilioChannel(channel, auth_token, sent_messages(channel.pk, message_count))
    finally:
        forget_waiting(channel.pk)
        forget_channel(channel)


def sent_messages(channel_id: int, count: int) -> list[tuple[int, str]]:
    """``count`` messages Twilio took ("sent", with a SID), inserted by the database in one statement."""
    from django.db import connection

    with connection.cursor() as cursor:
        sql, params = insert_sent_messages(channel_id, count, secrets.token_hex(4))
        cursor.execute(sql + " RETURNING id, provider_message_id", params)
        return sorted(cursor.fetchall())


def insert_sent_messages(channel_id: int, count: int, salt: str) -> tuple[str, list]:
    """INSERT ... SELECT FROM generate_series: ``count`` sent messages with SIDs; every other column
    gets its model default, so a column added later needs nothing here."""
    from django.db import connection

    from campaigns.models import OutboundMessage

    made = {
        "channel_id": ("%s", [channel_id]),
        "to": ("'+1415' || lpad(n::text, 7, '0')", []),
        "body": ("'Your order is ready.'", []),
        "status": ("'sent'", []),
        "attempts": ("1", []),
        "provider_message_id": ("'SM' || md5(%s || n::text)", [salt]),
        "created_at": ("now()", []),
        "sent_at": ("now()", []),
        "updated_at": ("now()", []),
    }
    columns, values, params = [], [], []
    for field in OutboundMessage._meta.concrete_fields:
        if field.primary_key or (field.null and field.column not in made):
            continue
        value, value_params = made.get(field.column, ("%s", [field.get_db_prep_save(field.get_default(), connection)]))
        columns.append(connection.ops.quote_name(field.column))
        values.append(value)
        params.extend(value_params)
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM generate_series(1, %s) AS n"
    return sql, [*params, count]


def delivered(message_ids: list[int]) -> int:
    from campaigns.models import OutboundMessage

    return OutboundMessage.objects.filter(pk__in=message_ids, status="delivered").count()


@dataclass
class Measured:
    """A closed loop against one server: the client's result and the server's CPU a request."""

    result: load.Result
    server_cpu_ms: float
    load: str

    def add(self, other: Measured) -> Measured:
        done = self.result.done + other.result.done
        cpu_ms = (self.server_cpu_ms * self.result.done + other.server_cpu_ms * other.result.done) / max(done, 1)
        return Measured(self.result.add(other.result), cpu_ms, other.load)


def measure(server: Api, requests: list[bytes], seconds: float = ROUND_SECONDS) -> Measured:
    cpu_before = server.server_cpu_seconds()
    result = load.closed_loop(server.host, server.port, requests, CONCURRENCY, seconds)
    cpu_ms = (server.server_cpu_seconds() - cpu_before) * 1000 / max(result.done, 1)
    return Measured(result, cpu_ms, load.load_average())


def side_by_side(bare: Api, product: Api, rounds: list[list[bytes]]) -> tuple[Measured, Measured]:
    """Rounds of the bare app then the product, each round's requests new (the bare app takes the same).
    The product's ``answered`` counts across rounds, as if the rounds' requests were one list."""
    bare_total = product_total = None
    offset = 0
    for requests in rounds:
        bare_round, product_round = measure(bare, requests), measure(product, requests)
        product_round.result.answered = {offset + number for number in product_round.result.answered}
        offset += len(requests)
        bare_total = bare_round if bare_total is None else bare_total.add(bare_round)
        product_total = product_round if product_total is None else product_total.add(product_round)
    return bare_total, product_total


@contextmanager
def bare_app(app: str = "bench.bare_wsgi:application", **settings: str) -> Iterator[Api]:
    """The bare WSGI app (or another baseline ``app``) under the same gunicorn settings as the product."""
    with gunicorn(WORKERS, app=app, production=True, **settings) as (host, port, pid):
        yield Api(host, port, "", "", pid)


def run() -> list[dict]:
    messages = 1_000 + ROUNDS * CALLBACKS_A_ROUND + OFFERED_RATE * OFFERED_SECONDS
    with twilio_channel(messages) as twilio, api_under_gunicorn(WORKERS, production=True) as api, bare_app() as bare:
        callbacks = twilio.callbacks(api, 0, messages)
        rounds = [callbacks[1_000 + n * CALLBACKS_A_ROUND :][:CALLBACKS_A_ROUND] for n in range(ROUNDS)]
        offered_requests = callbacks[-OFFERED_RATE * OFFERED_SECONDS :]
        warm = measure(api, callbacks[:1_000], 1)  # warm up every worker
        measure(bare, callbacks[:1_000], 1)
        bare_taken, taken = side_by_side(bare, api, rounds)
        bare_offered = load.open_loop(bare.host, bare.port, offered_requests, OFFERED_RATE, OFFERED_SECONDS)
        offered = load.open_loop(api.host, api.port, offered_requests, OFFERED_RATE, OFFERED_SECONDS)
        offered_load = load.load_average()
        apply_waiting()  # the receiving worker's part, when the webhooks only take the receipts
        # Every callback answered 200 is a promise: its message must now be delivered.
        acknowledged = {*warm.result.answered, *(1_000 + n for n in taken.result.answered)}
        acknowledged |= {messages - len(offered_requests) + n for n in offered.answered}
        lost = len(acknowledged) - delivered([twilio.messages[n][0] for n in acknowledged])
        rows = callback_rows(bare_taken, taken, bare_offered, offered, offered_load, len(acknowledged), lost)
        rows.append(drain_row())
        rows.extend(api_rows(api, bare))
    return rows


def callback_rows(bare_taken, taken, bare_offered, offered, offered_load, acknowledged, lost) -> list[dict]:
    share = taken.result.rate / bare_taken.result.rate
    p99 = offered.percentile_ms(0.99)
    return [
        {
            "name": f"signed Twilio status callbacks taken, concurrency {CONCURRENCY} (gunicorn {WORKERS} workers, "
            "postgresql)",
            "figure": round(taken.result.rate, 1),
            "unit": "req/s",
            "target": round(TARGET_CALLBACK_SHARE * bare_taken.result.rate),
            "ratio": share / TARGET_CALLBACK_SHARE if not (taken.result.failed() or lost) else 0.0,
            "note": f"{share:.2f} of the bare app's {bare_taken.result.rate:,.0f}/s; {describe(taken, bare_taken)}; "
            f"of the {acknowledged:,} messages whose callback was answered 200 in this run, {lost:,} not delivered "
            "after the receiving worker's batches",
        },
        {
            "name": f"callbacks' p99 answer time, {OFFERED_RATE:,}/s offered (open loop, {OFFERED_SECONDS} s)",
            "figure": round(p99, 1),
            "unit": "ms",
            "target": TARGET_P99_MS,
            "ratio": TARGET_P99_MS / p99 if not offered.failed() else 0.0,
            "note": f"{offered.rate:,.0f}/s achieved, {offered.describe_failures()}; p50 "
            f"{offered.percentile_ms(0.5):.1f} ms; the bare app's p99 {bare_offered.percentile_ms(0.99):.1f} ms; "
            f"client CPU {offered.client_share:.2f} of a core; {offered_load}",
        },
    ]


def describe(measured: Measured, bare: Measured) -> str:
    """The note's common part: counts, failures, latency, both sides' CPU and the machine's load."""
    result = measured.result
    return (
        f"{result.done:,} requests, {result.describe_failures()}; p50 "
        f"{result.percentile_ms(0.5):.0f} ms; server CPU {measured.server_cpu_ms:.2f} ms a request (bare app "
        f"{bare.server_cpu_ms:.2f}); client CPU {result.client_share:.2f} of a core (bare app's run "
        f"{bare.result.client_share:.2f}); {measured.load}"
    )


def api_rows(api: Api, bare: Api) -> list[dict]:
    """POST /message and GET /message/<id> side by side with the bare app, and the bulk request."""
    posts = [api.raw_post("/message", message_body(api, number)) for number in range(1_000)]
    ids = []
    for number in range(200):
        status, answer, _ = api.post("/message", message_body(api, number))
        if status != 200:
            raise SystemExit(f"POST /message answered {status}: {answer}")
        ids.append(answer["data"]["message_id"])
    gets = [get_request(api, message_id) for message_id in ids]
    rows = []
    for name, requests in (("POST /message", posts), ("GET /message/<id>", gets)):
        bare_measured, measured = side_by_side(bare, api, [requests] * API_ROUNDS)
        rows.append(api_row(name, bare_measured, measured))
    rows.append(bulk_row(api))
    return rows


def message_body(api: Api, number: int) -> dict:
    text = "Your order is ready."
    return {"provider": "sandbox", "channel_key": api.channel_key, "to": f"1415555{number % 10_000:04d}", "text": text}


def get_request(api: Api, message_id: str) -> bytes:
    return (
        f"GET /message/{message_id} HTTP/1.1\r\nHost: {api.host}:{api.port}\r\napikey: {api.key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def bulk_row(api: Api) -> dict:
    seconds, cpu = [], []
    for round_number in range(BULK_ROUNDS):
        body = bulk_body(api.channel_key, round_number)
        cpu_before = api.server_cpu_seconds()
        status, answer, took = api.post("/messages/bulk", body)
        if status != 200:
            raise SystemExit(f"POST /messages/bulk answered {status}: {answer}")
        seconds.append(took)
        cpu.append(api.server_cpu_seconds() - cpu_before)
    worst = max(seconds)
    return {
        "name": f"POST /messages/bulk, 10,000 recipients: answer time, worst of {BULK_ROUNDS}",
        "figure": round(worst, 3),
        "unit": "s",
        "target": TARGET_BULK_SECONDS,
        "ratio": TARGET_BULK_SECONDS / worst,
        "note": f"answers {', '.join(f'{s:.2f}' for s in seconds)} s; the gunicorn workers' CPU "
        f"{', '.join(f'{c:.2f}' for c in cpu)} s (what holds on a busy machine); {load.load_average()}",
    }


def api_row(name: str, bare: Measured, measured: Measured) -> dict:
    share = measured.result.rate / bare.result.rate
    return {
        "name": f"{name}, concurrency {CONCURRENCY}",
        "figure": round(measured.result.rate, 1),
        "unit": "req/s",
        "target": round(TARGET_API_SHARE * bare.result.rate),
        "ratio": share / TARGET_API_SHARE if not measured.result.failed() else 0.0,
        "note": f"{share:.2f} of the bare app's {bare.result.rate:,.0f}/s; {describe(measured, bare)}",
    }

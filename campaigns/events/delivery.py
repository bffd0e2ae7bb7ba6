"""Delivering the outbox: claim due events, POST them, write what happened, in batches.

Batching: by default one event per POST (as Standard Webhooks has it: the body's ``webhook-id`` is
the event's id, which a receiver dedupes on); an endpoint may ask for up to 100 events per POST
(``events_per_request``): a burst then goes as JSON arrays of events, each with its own id (the
POST gets an id of its own). Either way a worker claims up to CLAIM_SIZE due events with one
UPDATE, posts them concurrently through aiohttp over kept-alive connections (WEBHOOK_CONCURRENCY
in flight per destination), and writes the outcomes with a few UPDATEs and one INSERT of
attempts. A Python process makes about a thousand POSTs a second: arrays are what let a
million-event burst through in minutes (bench/events.py).

At least once: a claim is a token on the rows, and a claim older than WEBHOOK_CLAIM_STALE_SECONDS
(its worker was killed) is taken again. Never twice while its worker lives: a claim's POSTs can
outlast the limit (a thousand events, 32 at a time, to a receiver answering in just under its
10 s timeout take 312 s), so the worker renews its claim every fifth of the limit while it sends
(Holder), starts no POST once it has not renewed for half the limit or lost an event's claim, and
stops starting POSTs when its job's budget is spent or a send waits for the worker: the events it
did not send go back to the outbox unclaimed, due, their attempts untouched.

A failed try waits WEBHOOK_RETRY_BASE_SECONDS, doubling with jitter, up to an hour between tries;
after WEBHOOK_GIVE_UP_HOURS the event is given up. An endpoint that fails rests (its events are not
tried) for as long as its last event's backoff, and one failing for WEBHOOK_GIVE_UP_HOURS is
switched off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.events.destinations import url_problem
from campaigns.events.signing import signed_headers, status_callback_secret
from campaigns.models import WebhookAttempt, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)
Status = WebhookEvent.Status
CLAIM_SIZE = 1000
MAX_DELAY_SECONDS = 3600.0
USER_AGENT = "messaging-webhooks/1"


@dataclass
class Outcome:
    """What one POST got: a status code, or an error with no answer; ``tried`` False when the
    destination was seen down in this batch and the event was not posted."""

    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0
    tried: bool = True

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Summary:
    delivered: int = 0
    retrying: int = 0
    given_up: int = 0
    not_tried: int = 0
    renewals: int = 0
    endpoints_switched_off: int = 0
    batches: int = 0
    counts: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def due_events(now: datetime):
    """Pending events that are due, unclaimed (or their worker died), whose endpoint is on and not resting."""
    stale = now - timedelta(seconds=settings.WEBHOOK_CLAIM_STALE_SECONDS)
    return (
        WebhookEvent.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(claim_token__isnull=True) | Q(claimed_at__lte=stale))
        .filter(
            Q(endpoint__isnull=True)
            | Q(endpoint__enabled=True, endpoint__resting_until__isnull=True)
            | Q(endpoint__enabled=True, endpoint__resting_until__lte=now)
        )
    )


@dataclass
class Destination:
    """What a worker needs of an endpoint (its secret decrypted once per claim, not once per event)."""

    url: str
    secrets: tuple[str, ...]  # its secret, and during a rotation's grace period the one it replaced
    events_per_request: int


@dataclass
class Claimed:
    """A claimed outbox row, as much of it as delivering needs (no model instance: a claim is a thousand)."""

    pk: int
    event_id: str
    payload: dict
    endpoint_id: int | None
    callback_url: str
    attempts: int
    created_at: datetime
    endpoint: Destination | None = None
    claim_token: uuid.UUID | None = None  # the claim it came with: its outcome is written only while that holds

    @property
    def destination(self) -> str:
        return self.endpoint.url if self.endpoint else self.callback_url


CLAIMED_FIELDS = ("pk", "event_id", "payload", "endpoint_id", "callback_url", "attempts", "created_at")


def claim(limit: int = CLAIM_SIZE) -> list[Claimed]:
    """Take up to ``limit`` due events for this worker (skipping rows another worker is claiming)."""
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        due = due_events(now).order_by("next_attempt_at").select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        WebhookEvent.objects.filter(pk__in=ids).update(claim_token=token, claimed_at=now)
    rows = WebhookEvent.objects.filter(claim_token=token).order_by("id").values_list(*CLAIMED_FIELDS)
    events = [Claimed(*row) for row in rows]
    endpoints = {
        endpoint.pk: Destination(endpoint.url, endpoint.signing_secrets(now), endpoint.events_per_request)
        for endpoint in WebhookEndpoint.objects.filter(pk__in={e.endpoint_id for e in events if e.endpoint_id})
    }
    for event in events:
        event.endpoint = endpoints.get(event.endpoint_id)
        event.claim_token = token
    return events


def deliver_due(budget_seconds: float, give_way: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Deliver due events until none is due, the budget is spent, or sending needs the worker."""
    summary = Summary()
    deadline = time.monotonic() + budget_seconds
    poster = Poster()

    def time_to_stop() -> bool:
        return time.monotonic() >= deadline or give_way()

    try:
        while time.monotonic() < deadline:
            events = claim()
            if not events:
                break
            holder = Holder(events, stop=time_to_stop)
            outcomes = poster.post_all(events, holder)
            record_outcomes(events, outcomes, summary)
            summary.batches += 1
            summary.renewals += holder.renewals
            if holder.stopped or give_way():
                break
    finally:
        poster.close()
    return summary.as_dict()


class Holder:
    """Keeps a worker's claim while it sends: renews it every fifth of the stale-claim limit, so no
    other worker takes events still being sent, and says which events may still be POSTed.

    An event may not be once another worker holds it (this one stalled past the limit, or "send
    again" reset it), once this worker has not renewed for half the limit (a stalled process must
    not send what may be taken from it any moment), or once ``stop`` says the job should end.
    """

    CHECK_EVERY = 1.0  # seconds between looks at ``stop`` (a send waiting is seen within this)

    def __init__(self, events: list[Claimed], stop: Callable[[], bool] = lambda: False) -> None:
        self.token = events[0].claim_token if events else None
        self.pks = {event.pk for event in events}
        self.stop = stop
        self.lost: set[int] = set()
        self.stopped = False
        self.renewals = 0
        self.renewed = self.checked = time.monotonic()

    @property
    def limit(self) -> float:
        return float(settings.WEBHOOK_CLAIM_STALE_SECONDS)

    def next_look_in(self) -> float:
        """Seconds the posting may run before the worker must look at its claim again."""
        return max(0.01, min(self.CHECK_EVERY, self.limit / 5))

    def look(self) -> None:
        """Between slices of posting (the event loop paused): renew if due, and see whether to stop."""
        now = time.monotonic()
        if now - self.renewed >= self.limit / 5:
            self.renew()
        if not self.stopped and self.stop():
            self.stopped = True

    def renew(self) -> None:
        ours = WebhookEvent.objects.filter(claim_token=self.token, status=Status.PENDING)
        if ours.update(claimed_at=timezone.now()) < len(self.pks) - len(self.lost):
            self.lost = self.pks - set(ours.values_list("pk", flat=True))
        self.renewed = time.monotonic()
        self.renewals += 1

    def may_send(self, request: list[Claimed]) -> bool:
        if self.stopped or time.monotonic() - self.renewed > self.limit / 2:
            return False
        return not any(event.pk in self.lost for event in request)


def body_of(event: Claimed) -> str:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)


class Poster:
    """One event loop and one aiohttp session for a job's batches (connections kept alive between them)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None

    def close(self) -> None:
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
        self.loop.close()

    def post_all(self, events: list[Claimed], holder: Holder | None = None) -> list[Outcome]:
        """Post ``events``, the loop run in slices: between them (no coroutine running, nothing
        posted) the holder renews the claim in this thread, whose database connection it is."""
        holder = holder or Holder(events)
        secrets = destination_secrets(events)
        refused = {url: url_problem(url) for url in {e.destination for e in events}}
        posting = self.loop.create_task(self._post_all(events, secrets, refused, holder))
        while not posting.done():
            self.loop.run_until_complete(asyncio.wait([posting], timeout=holder.next_look_in()))
            if not posting.done():
                holder.look()
        return posting.result()

    async def _post_all(self, events, secrets: dict, refused: dict[str, str], holder: Holder) -> list[Outcome]:
        """Each request's outcome, for every event it carried, in the order of ``events``."""
        requests = grouped(events)
        answers = await self._post_requests(requests, secrets, refused, holder)
        outcomes: dict[int, Outcome] = {}
        for request, outcome in zip(requests, answers, strict=True):
            outcomes.update((event.pk, outcome) for event in request)
        return [outcomes[event.pk] for event in events]

    async def _post_requests(self, requests, secrets: dict, refused: dict[str, str], holder: Holder) -> list[Outcome]:
        if self.session is None:
            timeout = aiohttp.ClientTimeout(total=settings.WEBHOOK_TIMEOUT_SECONDS)
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=settings.WEBHOOK_CONCURRENCY)
            self.session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        gates: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(settings.WEBHOOK_CONCURRENCY))
        down: set[str] = set()  # destinations that failed in this batch with no success yet
        up: set[str] = set()

        async def post(request: list[Claimed]) -> Outcome:
            url = request[0].destination
            if refused[url]:
                return Outcome(error=f"Not sent: {refused[url]}"[:300])
            async with gates[url]:
                if (url in down and url not in up) or not holder.may_send(request):
                    return Outcome(tried=False)  # back to the outbox unclaimed, as it was
                outcome = await self._post(url, request, secrets[destination_key(request[0])])
            (up if outcome.ok else down).add(url)
            return outcome

        return await asyncio.gather(*(post(request) for request in requests))

    async def _post(self, url: str, request: list[Claimed], secrets: tuple[str, ...]) -> Outcome:
        if len(request) == 1:
            body, message_id = body_of(request[0]), request[0].event_id
        else:  # an array of events (the endpoint asked for them): a new id for the POST, each event keeps its own
            body, message_id = "[" + ",".join(body_of(e) for e in request) + "]", f"msg_{uuid.uuid4().hex}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(secrets, message_id, body, timezone.now()),
        }
        started = time.monotonic()
        try:
            async with self.session.post(url, data=body.encode("utf-8"), headers=headers, allow_redirects=False) as r:
                await r.content.read(1024)  # what they wrote is theirs: never kept, never logged
                return Outcome(status_code=r.status, duration_ms=_ms(started))  # its status code says it all
        except TimeoutError:
            error = f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
        except aiohttp.ClientConnectorError as e:
            error = f"Could not connect: {e.os_error.strerror or type(e.os_error).__name__}"
        except aiohttp.ClientError as e:
            error = f"Connection failed: {type(e).__name__}"
        return Outcome(error=error[:300], duration_ms=_ms(started))


def grouped(events: list[Claimed]) -> list[list[Claimed]]:
    """The requests that carry ``events``: one each, or up to an endpoint's events_per_request together."""
    requests: list[list[Claimed]] = []
    open_requests: dict[int, list[Claimed]] = {}
    for event in events:
        size = event.endpoint.events_per_request if event.endpoint else 1
        if size <= 1:
            requests.append([event])
            continue
        current = open_requests.get(event.endpoint_id)
        if current is None or len(current) >= size:
            current = open_requests[event.endpoint_id] = []
            requests.append(current)
        current.append(event)
    return requests


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def destination_key(event: Claimed) -> object:
    return event.endpoint_id or "status_callback"


def destination_secrets(events: list[Claimed]) -> dict[object, tuple[str, ...]]:
    secrets: dict[object, tuple[str, ...]] = {}
    for event in events:
        key = destination_key(event)
        if key not in secrets:
            secrets[key] = event.endpoint.secrets if event.endpoint else (status_callback_secret(),)
    return secrets


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: base, twice that, four times... at most an hour."""
    base = min(settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1)), MAX_DELAY_SECONDS)
    return timedelta(seconds=random.uniform(base / 2, base))


def record_outcomes(events: list[Claimed], outcomes: list[Outcome], summary: Summary) -> None:
    """Write a batch's outcomes: a few UPDATEs (rows ending alike share one), one INSERT of attempts."""
    now = timezone.now()
    give_up_before = now - timedelta(hours=settings.WEBHOOK_GIVE_UP_HOURS)
    groups: dict[tuple, list[int]] = defaultdict(list)
    delays: dict[int, timedelta] = {}
    attempts: list[WebhookAttempt] = []
    by_endpoint: dict[int, list[tuple[Claimed, Outcome]]] = defaultdict(list)
    for event, outcome in zip(events, outcomes, strict=True):
        if not outcome.tried:
            groups[(("claim_token", None),)].append(event.pk)
            summary.not_tried += 1
            continue
        tries = event.attempts + 1
        change = {"claim_token": None, "last_status_code": outcome.status_code, "last_error": outcome.error}
        if outcome.ok:
            change.update(status=Status.DELIVERED, delivered_at=now)
            summary.delivered += 1
        elif event.created_at <= give_up_before or outcome.error.startswith("Not sent:"):
            change["status"] = Status.FAILED
            summary.given_up += 1
        else:
            delays.setdefault(tries, retry_delay(tries))
            change["next_attempt_at"] = now + delays[tries]
            summary.retrying += 1
        groups[tuple(sorted(change.items()))].append(event.pk)
        attempts.append((event.pk, event.endpoint_id, outcome.status_code, outcome.error, outcome.duration_ms))
        if event.endpoint_id:
            by_endpoint[event.endpoint_id].append((event, outcome))
    # A batch slower than the stale-claim limit was claimed again by another worker: its rows are
    # that worker's now, and this one's outcome must neither free them nor mark them failed.
    claims = {event.claim_token for event in events}
    with transaction.atomic():
        for change, ids in groups.items():
            fields = dict(change)
            if len(fields) > 1:  # tried: one more attempt
                fields["attempts"] = F("attempts") + 1
            WebhookEvent.objects.filter(pk__in=ids, claim_token__in=claims).update(**fields)
        log_attempts(attempts, now)
        for endpoint_id, results in by_endpoint.items():
            summary.endpoints_switched_off += note_endpoint_health(endpoint_id, results, now)


def log_attempts(attempts: list[tuple], at: datetime) -> None:
    """One INSERT statement run for every attempt (executemany): bulk_create builds a model and
    its SQL per row, which cost more than the POSTs themselves on a burst."""
    if not attempts:
        return
    table = connection.ops.quote_name(WebhookAttempt._meta.db_table)
    at_value = WebhookAttempt._meta.get_field("at").get_db_prep_save(at, connection)
    sql = f"INSERT INTO {table} (event_id, endpoint_id, at, status_code, error, duration_ms) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608, E501 - the table name is ours, every value a parameter
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(pk, endpoint, at_value, code, error, ms) for pk, endpoint, code, error, ms in attempts]
        )


def note_endpoint_health(endpoint_id: int, results: list[tuple[Claimed, Outcome]], now: datetime) -> int:
    """An endpoint that answered is well again; one that did not rests, and after a day of failing
    is switched off (1 when this batch switched it off)."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if any(outcome.ok for _, outcome in results):
        endpoints.filter(Q(failing_since__isnull=False) | Q(resting_until__isnull=False)).update(
            failing_since=None, resting_until=None, updated_at=now
        )
        return 0
    worst = max(event.attempts + 1 for event, _ in results)
    endpoints.filter(failing_since__isnull=True).update(failing_since=now, updated_at=now)
    endpoints.update(resting_until=now + retry_delay(worst))
    since = now - timedelta(hours=settings.WEBHOOK_GIVE_UP_HOURS)
    last = results[-1][1].error or f"HTTP {results[-1][1].status_code}"
    reason = f"Every delivery failed for more than {settings.WEBHOOK_GIVE_UP_HOURS} hours; last answer: {last}"
    switched = endpoints.filter(enabled=True, failing_since__lte=since).update(
        enabled=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
    )
    if switched:
        log.warning("webhook endpoint switched off endpoint=%s reason=%s", endpoint_id, last)
    return switched


def send_again(event_ids: list[int]) -> int:
    """Put these events back in the outbox, due now (the delivery log's "send again")."""
    now = timezone.now()
    sent = WebhookEvent.objects.filter(pk__in=event_ids).update(
        status=Status.PENDING, next_attempt_at=now, claim_token=None, created_at=now
    )
    if sent:
        from campaigns.events.jobs import deliver_soon

        deliver_soon()
    return sent

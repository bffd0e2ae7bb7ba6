"""`unknown` only for requests that may have left: each request is noted (in Redis, per claim) as it
is written, once it has its connection (a provider with one request per batch: the batch, as it
leaves), those noted and then held back after all are struck off again, and after a crash the
reconciler sends a dead claim's unnoted rows back to the queue and marks only the noted ones
unknown; a record Redis may have lost proves nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from bench.endpoint import Behaviour, Endpoint
from campaigns.models import OutboundMessage
from campaigns.pipeline import written
from campaigns.pipeline.jobs import expire_stale_sending
from campaigns.pipeline.sending import _provider_send
from providers import http
from providers.base import LATE, Outcome, OutgoingMessage
from providers.models import Channel
from providers.registry import provider_for
from tests import test_twilio_support as support
from tests.conftest import run_worker

Status = OutboundMessage.Status
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel


@pytest.fixture
def endpoint():
    with Endpoint(behaviour=Behaviour(strict=True)) as running:
        yield running


@pytest.fixture
def provider(db, endpoint):
    credentials = {"account_sid": support.ACCOUNT_SID, "auth_token": support.AUTH_TOKEN}
    channel = Channel.objects.create(
        name="Twilio", provider="twlo", sender=support.SENDER, credentials=credentials, api_base_url=endpoint.base_url
    )
    return provider_for(channel)


def batch(*ids: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(id=pk, to=f"+4479111234{pk:02d}", text="Hello") for pk in ids]


def test_a_batch_is_noted_as_it_leaves(provider, endpoint):
    token = uuid.uuid4()
    written.open_record(token)
    results = _provider_send(provider, batch(1, 2), time.monotonic() + 5, written.Record(token))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    assert written.close_record(token) == {1, 2} == set(endpoint.stats.received)


def test_a_batch_held_back_as_late_is_struck_off_again(provider, endpoint):
    token = uuid.uuid4()
    written.open_record(token)
    results = _provider_send(provider, batch(1, 2), time.monotonic() - 1, written.Record(token))
    assert [r.error_code for r in results] == [LATE] * 2
    assert written.close_record(token) == set()  # trusted, and empty: neither left
    assert endpoint.stats.requests == 0


def test_once_the_reconciler_closed_a_claims_record_none_of_its_batches_is_sent(provider, endpoint):
    """A hung worker waking up after its claim was taken over sends nothing the queue now has."""
    token = uuid.uuid4()
    written.open_record(token)
    assert written.close_record(token) == set()
    results = _provider_send(provider, batch(1), time.monotonic() + 5, written.Record(token))
    assert [(r.outcome, r.error_code) for r in results] == [(Outcome.RETRY, "not_sent")]  # a retry, never unknown
    assert endpoint.stats.requests == 0


def noted(token) -> set[int]:
    """What the claim's record holds now, without closing it."""
    members = django_rq.get_connection("default").smembers(written.record_key(token))
    return {int(m) for m in members if m.isdigit()}


@pytest.fixture
def edge_slow_to_connect(db, settings):
    """A Twilio channel whose edge takes one connection and then none for a minute: two more finish
    their handshake in its listen backlog (written to, never read), the others' SYNs are dropped."""
    settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_READ_TIMEOUT = 2.0, 2.0
    with Endpoint(behaviour=Behaviour(strict=True, backlog=1, accept_delay=60)) as edge:
        credentials = {"account_sid": support.ACCOUNT_SID, "auth_token": support.AUTH_TOKEN}
        channel = Channel.objects.create(
            name="Twilio", provider="twlo", sender=support.SENDER, credentials=credentials, api_base_url=edge.base_url
        )
        yield provider_for(channel), edge


def test_a_request_still_waiting_for_its_connection_is_not_noted_and_never_sent_once_its_claim_is_taken(
    edge_slow_to_connect,
):
    """The worker is as good as dead while its requests wait for connections: the reconciler then
    finds noted only those written, and the others, once connected, are not written (their rows went
    back to the queue)."""
    provider, edge = edge_slow_to_connect
    token = uuid.uuid4()
    written.open_record(token)
    results = []
    sending = threading.Thread(
        target=lambda: results.extend(
            _provider_send(provider, batch(*range(1, 7)), time.monotonic() + 30, written.Record(token))
        )
    )
    sending.start()
    time.sleep(0.7)  # the connections the edge took are made, the others' first SYN retry is a second away
    waiting_for_connections = noted(token)
    taken = written.close_record(token)  # the reconciler takes the claim: these are the rows in doubt
    sending.join(10)
    assert 1 <= len(waiting_for_connections) <= 3, waiting_for_connections  # one accepted, two in its backlog
    assert taken == waiting_for_connections
    assert set(edge.stats.received) <= taken  # the edge read only requests noted as written
    by_id = {r.message_id: r for r in results}
    assert {pk for pk, r in by_id.items() if r.outcome == Outcome.RETRY} == set(range(1, 7)) - taken
    assert all(r.error_code == "not_sent" for pk, r in by_id.items() if pk not in taken)
    assert all(r.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN) for pk, r in by_id.items() if pk in taken)


class SlowNotes(written.Record):
    """Notes answered past the requests' leave-by time (a Redis slow to answer on a busy machine)."""

    async def writing(self, message_id: int) -> bool:
        noted = await super().writing(message_id)
        await asyncio.sleep(0.3)
        return noted


def test_a_request_made_late_by_its_note_is_not_written_and_struck_off_at_once(provider, endpoint):
    """Not once the whole batch is answered: a crash in between would leave it unknown."""
    token = uuid.uuid4()
    written.open_record(token)
    call = http.Call("POST", provider.account_url("/Messages.json"), data={"To": "+447911123456"}, message_id=1)
    with http.noting_writes(SlowNotes(token)), http.leaving_by(time.monotonic() + 0.2):
        answers = http.request_many([call])
    assert isinstance(answers[0], http.Late)
    assert endpoint.stats.requests == 0
    assert noted(token) == set()


def test_a_burst_of_requests_held_back_at_once_is_all_struck_off(db, caplog):
    """A busy machine holds back hundreds of a batch's requests as late in the same instant: each
    struck off with a Redis call of its own ran the connection pool dry ("Too many connections"),
    and those left noted became ``unknown`` after a kill though never written."""
    token = uuid.uuid4()
    written.open_record(token)
    record, ids = written.Record(token), list(range(1, 501))

    async def noted_then_held_back():
        assert all(await asyncio.gather(*(record.writing(pk) for pk in ids)))
        await asyncio.gather(*(record.not_writing(pk) for pk in ids))

    loop = http._async_sender(os.getpid()).loop  # the loop providers.http notes and strikes on
    with caplog.at_level(logging.WARNING):
        asyncio.run_coroutine_threadsafe(noted_then_held_back(), loop).result(timeout=10)
    assert noted(token) == set()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_request_naming_no_message_is_not_sent_while_requests_are_noted(endpoint):
    """A provider whose request could leave unnoted would have it sent again after a crash."""
    token = uuid.uuid4()
    written.open_record(token)
    with http.noting_writes(written.Record(token)):
        answers = http.request_many([http.Call("POST", endpoint.base_url + "/anything", data={"To": "+447911123456"})])
    assert isinstance(answers[0], http.NotSent)
    assert endpoint.stats.requests == 0
    assert written.close_record(token) == set()


# --- the reconciler ------------------------------------------------------------------------------------


def handed_over(channel: Channel, count: int, token: uuid.UUID) -> list[OutboundMessage]:
    """Rows as a worker killed with a batch in flight leaves them: ``sending``, past the lease."""
    then = timezone.now() - timedelta(minutes=5)
    fields = {"body": "Hello", "status": Status.SENDING, "claim_token": token, "claimed_at": then, "attempts": 1}
    return [OutboundMessage.objects.create(channel=channel, to=f"+4479111234{n:02d}", **fields) for n in range(count)]


@pytest.fixture
def twilio_channel(db) -> Channel:
    credentials = {"account_sid": support.ACCOUNT_SID, "auth_token": support.AUTH_TOKEN}
    return Channel.objects.create(name="Twilio", provider="twlo", sender=support.SENDER, credentials=credentials)


def outcomes(rows: list[OutboundMessage]) -> list[tuple[str, int, bool]]:
    found = OutboundMessage.objects.in_bulk([m.pk for m in rows])
    return [(found[m.pk].status, found[m.pk].attempts, found[m.pk].claim_token is None) for m in rows]


def test_a_dead_claims_rows_never_written_go_back_to_the_queue_and_only_the_written_are_unknown(twilio_channel, caplog):
    token = uuid.uuid4()
    written.open_record(token)
    first, second, third = handed_over(twilio_channel, 3, token)
    assert written.Record(token).leaving([first.pk])
    with caplog.at_level(logging.INFO, logger="campaigns.pipeline.jobs"):
        assert expire_stale_sending() == 3
    # Settled once: the claim's rows are taken together, not one claim per row.
    assert [r.getMessage() for r in caplog.records if "lost" in r.getMessage()] == [
        f"claim {token} lost: 2 rows never written back to the queue, 1 unknown"
    ]
    assert outcomes([first, second, third]) == [
        (Status.UNKNOWN, 1, True),  # its request may have reached the provider
        (Status.QUEUED, 0, True),  # never written: sent again, the try not counted
        (Status.QUEUED, 0, True),
    ]


@pytest.mark.parametrize("lost", ["flushed", "older_redis"])
def test_a_record_redis_may_have_lost_proves_nothing(twilio_channel, lost):
    token = uuid.uuid4()
    connection = django_rq.get_connection("default")
    if lost == "flushed":
        written.open_record(token)
        connection.flushdb()
    else:  # opened before a restart that restored an older snapshot: notes made since are missing
        connection.sadd(written.record_key(token), "open:a-redis-run-before-the-restart")
    rows = handed_over(twilio_channel, 2, token)
    expire_stale_sending()
    assert outcomes(rows) == [(Status.UNKNOWN, 1, True)] * 2


@pytest.mark.django_db(transaction=True)
def test_a_finished_claim_leaves_no_record(fake_twilio, make_twilio_channel):
    message = OutboundMessage.send_one(channel=make_twilio_channel(), to="+447911123456", text="Hi")
    run_worker()
    message.refresh_from_db()
    assert message.status != Status.SENDING  # sent (or, on a busy machine, late and queued again)
    assert list(django_rq.get_connection("default").scan_iter("written:*")) == []

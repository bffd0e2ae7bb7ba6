"""A request is written only while it can still leave by its booked time, checked again when its
connection is ready: a connection that took long to open (a provider's edge slow to accept, SYN
retries, a TLS handshake) must not carry a request into a later second than its booking's."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bench.endpoint import Behaviour, Endpoint
from providers import http

SLOW_CONNECT_SECONDS = 1.0


@pytest.fixture
def endpoint():
    with Endpoint(behaviour=Behaviour()) as running:
        yield running


@pytest.fixture
def slow_connects(monkeypatch):
    """Every new connection takes SLOW_CONNECT_SECONDS to open (as a SYN retried would, only shorter)."""
    create = aiohttp.TCPConnector._create_connection

    async def slowly(self, *args, **kwargs):
        await asyncio.sleep(SLOW_CONNECT_SECONDS)
        return await create(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "_create_connection", slowly)


def eventually(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def post(endpoint: Endpoint) -> http.Call:
    return http.Call("POST", f"{endpoint.base_url}/2010-04-01/Accounts/AC1/Messages.json", data={"To": "+1"})


def test_a_request_whose_connection_opens_too_late_is_not_written_and_the_connection_is_not_kept(
    endpoint, slow_connects
):
    """A handshake that slow was made in a burst an edge was dropping packets of: the connection may
    be open only on our side, and a request written on it would arrive 0.2 s late (see http._settled)."""
    with http.leaving_by(time.monotonic() + SLOW_CONNECT_SECONDS / 2):  # on time when it starts to connect
        [late] = http.request_many([post(endpoint)])
    assert isinstance(late, http.Late)  # NotSent: retried, never unknown
    assert eventually(lambda: endpoint.stats.connections == 1)  # its thread counts it a moment later
    assert endpoint.stats.requests == 0  # not a byte of it was written

    with http.leaving_by(time.monotonic() + SLOW_CONNECT_SECONDS + 5):
        [answer] = http.request_many([post(endpoint)])
    assert answer.status_code == 201
    assert (endpoint.stats.requests, endpoint.stats.connections) == (1, 2)  # on a connection of its own


class SlowNotes:
    """Notes answered past the request's leave-by time: the request is late with its connection in hand."""

    async def writing(self, message_id: int) -> bool:
        await asyncio.sleep(0.3)
        return True

    async def not_writing(self, message_id: int) -> None:
        pass


def test_a_connection_opened_ahead_stays_in_the_pool_when_its_request_is_late(endpoint):
    http.open_ahead(post(endpoint).url, 1)
    assert eventually(lambda: endpoint.stats.connections == 1)
    noted = http.Call("POST", post(endpoint).url, data={"To": "+1"}, message_id=1)
    with http.noting_writes(SlowNotes()), http.leaving_by(time.monotonic() + 0.2):
        [late] = http.request_many([noted])
    assert isinstance(late, http.Late)

    with http.leaving_by(time.monotonic() + 5):
        [answer] = http.request_many([post(endpoint)])
    assert answer.status_code == 201
    assert (endpoint.stats.requests, endpoint.stats.connections) == (1, 1)  # the one opened ahead carried it


def test_a_request_on_time_on_a_slow_connection_goes(endpoint, slow_connects):
    with http.leaving_by(time.monotonic() + SLOW_CONNECT_SECONDS + 5):
        [answer] = http.request_many([post(endpoint)])
    assert answer.status_code == 201
    assert endpoint.stats.requests == 1


def test_a_provider_behind_a_certificate_trusted_through_the_ca_bundle_setting(tmp_path, settings):
    """The chaos bench's TLS endpoint is self-signed; production may use a private CA the same way."""
    from bench.chaos import self_signed_certificate
    from bench.endpoint import server_context

    certificate, key = self_signed_certificate()
    with Endpoint(behaviour=Behaviour(), tls=server_context(certificate, key)) as tls:
        call = post(tls)
        untrusted = http._AsyncSender()  # a pool of its own: the process's is made with its settings once
        [refused] = asyncio.run_coroutine_threadsafe(untrusted.send_all([call], (5, 5)), untrusted.loop).result()
        assert isinstance(refused, http.NotSent)  # an unknown certificate: nothing was sent

        settings.PROVIDER_CA_BUNDLE = certificate
        trusting = http._AsyncSender()
        [answer] = asyncio.run_coroutine_threadsafe(trusting.send_all([call], (5, 5)), trusting.loop).result()
        assert answer.status_code == 201
        assert http.request("POST", call.url, data=call.data).status_code == 201  # the one-request path too
        assert tls.stats.requests == 2
        for sender in (untrusted, trusting):
            sender.close()


def test_connections_opened_ahead_of_a_booking_carry_its_requests(endpoint):
    """A batch's requests go on connections opened while it waited for its time, not opened at it."""
    http.open_ahead(f"{endpoint.base_url}/2010-04-01/Accounts/AC1/Messages.json", 3)
    assert eventually(lambda: endpoint.stats.connections == 3), endpoint.stats.connections
    http.open_ahead(f"{endpoint.base_url}/anything", 3)  # the pool has them: none more
    with http.leaving_by(time.monotonic() + 5):
        answers = http.request_many([post(endpoint) for _ in range(3)])
    assert [answer.status_code for answer in answers] == [201] * 3
    assert (endpoint.stats.requests, endpoint.stats.connections) == (3, 3)

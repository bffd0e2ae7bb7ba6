"""Builders and the real RQ worker used across the suite.

Integration tests run RQ's own SimpleWorker in burst mode against the real Redis that
`make test` provides (an embedded one when REDIS_URL is unset), in this process so that it shares
the test database (SQLite in memory, or the PostgreSQL test database).
"""

from __future__ import annotations

import os
import threading

import django_rq
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection as default_connection
from rq import SimpleWorker
from rq.scheduler import RQScheduler

from campaigns.models import OutboundMessage
from campaigns.pipeline.queueing import RECEIVING_QUEUE, WORKER_QUEUES
from campaigns.receiving import receive_events
from contacts.models import Contact, ContactList
from providers.models import Channel, ReceivedEvent
from providers.ratelimit import forget_recent_bookings

pytest_plugins = ["tests.browser"]  # the `page` fixture for staff journeys in Chromium

if not os.environ.get("REDIS_URL"):
    pytest.exit("REDIS_URL is not set: run the suite with `make test` (it starts a Redis when needed).", returncode=4)


def one_machine_request_at_a_time() -> None:
    """On SQLite in memory, Django's live server shares the test's one database connection with every
    request thread, so two webhooks answered at the same moment interleave their transactions on it
    ("cannot start a transaction within a transaction", a 500 the fakes never retry). Production
    gives each thread its own connection. Machine requests (webhooks, short links, the API) take
    turns here; staff pages do not, since the test-reply page posts to a webhook while it answers."""
    if default_connection.vendor != "sqlite":
        return
    turns = threading.Lock()
    answer = WSGIHandler.__call__

    def taking_turns(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(("/webhooks/", "/l/", "/message")):
            return answer(self, environ, start_response)
        with turns:
            return answer(self, environ, start_response)

    WSGIHandler.__call__ = taking_turns


one_machine_request_at_a_time()


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with an empty queue (only the database number the suite was given)."""
    django_rq.get_connection("default").flushdb()
    forget_recent_bookings()  # else the rate limiter takes this flush for a lost Redis
    yield


@pytest.fixture(autouse=True)
def connection_left_usable():
    """Give the next test a usable connection. In the shared in-memory SQLite database a worker run
    by a test can race the live server's threads (one writer at a time); a transaction that lost the
    race may leave Django's connection outside autocommit, and every later test would then fail on
    its first on_commit. PostgreSQL never gets here."""
    yield
    from django.db import connection

    if connection.connection is not None and not connection.in_atomic_block and not connection.autocommit:
        connection.rollback()
        connection.set_autocommit(True)


def run_worker() -> int:
    """Run a real RQ worker until the queue is empty; jobs scheduled for now or earlier included.

    Receipts and replies the webhooks (or a job) took are applied too: rqcron starts the receiving
    job every second in production; here it is started whenever events wait.
    """
    queues = [django_rq.get_queue(name) for name in WORKER_QUEUES]  # high first, as production workers
    connection = queues[0].connection
    scheduler = RQScheduler(queues, connection=connection)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    worker = SimpleWorker(queues, connection=connection)
    for _ in range(10):  # a job may take events, and their receiving job start more work
        if ReceivedEvent.objects.exists():
            django_rq.get_queue(RECEIVING_QUEUE, commit_mode="auto").enqueue(receive_events)
        worker.work(burst=True)
        if not ReceivedEvent.objects.exists():
            break
    for queue in queues:
        failed = queue.failed_job_registry
        assert failed.count == 0, [queue.fetch_job(job_id).exc_info for job_id in failed.get_job_ids()]
    return sum(len(queue.finished_job_registry) for queue in queues)


@pytest.fixture
def worker():
    return run_worker


@pytest.fixture
def scripted(settings):
    """A provider whose answers at sending the test decides (tests/scripted_provider.py)."""
    from providers.registry import provider_classes
    from tests.scripted_provider import ScriptedProvider

    settings.MESSAGING_PROVIDERS = [*settings.MESSAGING_PROVIDERS, "tests.scripted_provider.ScriptedProvider"]
    provider_classes.cache_clear()
    ScriptedProvider.answers.clear()
    ScriptedProvider.sent.clear()
    yield ScriptedProvider
    provider_classes.cache_clear()


@pytest.fixture
def channel(db) -> Channel:
    return Channel.objects.create(name="Sandbox", provider="sandbox", sender="+15005550006", rate_limit=1000)


@pytest.fixture
def make_contact(db):
    def make(phone: str = "+447911123456", name: str = "Ann Example", **extra) -> Contact:
        return Contact.objects.create(phone=phone, name=name, extra_fields=extra)

    return make


@pytest.fixture
def make_list(db):
    def make(name: str, contacts: list[Contact]) -> ContactList:
        contact_list = ContactList.objects.create(name=name)
        contact_list.contacts.add(*contacts)
        return contact_list

    return make


@pytest.fixture
def send_one(channel):
    def send(to: str = "+447911123456", text: str = "Hello", **kwargs) -> OutboundMessage:
        return OutboundMessage.send_one(channel=kwargs.pop("channel", channel), to=to, text=text, **kwargs)

    return send

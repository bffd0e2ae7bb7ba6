"""Event webhooks through faults, with real processes: bench/events.py at a small scale.

Two `rqworker high default events` processes and the real scheduler deliver 3,000 events to a
loopback receiver (its own process, verifying every signature with the standardwebhooks
library); once a quarter have arrived the receiver answers 503 for 8 s, and during that outage a
worker and its work horse are killed with SIGKILL and Redis is flushed. Every event must arrive,
and every signature must verify. On PostgreSQL when DATABASE_URL is set, else on a SQLite file.
"""

from __future__ import annotations

import pytest

from tests.scenarios import run_scenario

EVENTS = 3000


@pytest.mark.slow
def test_no_event_is_lost_across_a_receiver_outage_a_worker_kill_and_a_redis_flush():
    # One event a POST: slow enough (a few seconds) that the outage and the kill fall in the middle.
    report = run_scenario("bench.events", "--events", str(EVENTS), "--outage", "8", "--per-request", "1")
    assert report["lost"] == 0, report
    assert report["arrived"] == EVENTS, report
    assert report["bad_signatures"] == 0, report
    assert report["refused_while_down"] > 0, report  # the outage happened while events were going
    assert report["outbox"] == {"delivered": EVENTS}, report


@pytest.mark.slow
def test_a_claim_slower_than_the_stale_limit_is_sent_once_and_nothing_is_lost():
    # Two workers, a receiver answering each POST after 1.2 s, a claim of 120 events sent 16 at a
    # time (9 s) against a 2 s stale-claim limit (bench/events_slow.py): before workers renewed
    # their claims, the second took the first's events and sent them again, again and again.
    report = run_scenario("bench.events_slow", "--events", "120")
    assert report["duplicates"] == 0, report
    assert report["lost"] == 0 and report["arrived"] == 120, report
    assert report["bad_signatures"] == 0, report
    assert report["outbox"] == {"delivered": 120}, report
    assert report["attempts"] == {"204": 120}, report  # each event POSTed once, none timed out

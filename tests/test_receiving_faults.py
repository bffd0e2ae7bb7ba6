"""Receipts through faults, with real processes: a kill -9 of the receiving worker mid-batch and a
Redis flush with receipts waiting. Every receipt answered 2xx ends applied exactly once.

Each test runs a scenario of bench/receiving_faults.py in its own process (the worker and rqcron
processes must share its database): on PostgreSQL when DATABASE_URL is set, else on a SQLite file.
"Exactly once" is read from the customers' outbox (campaigns/events/), which the batch writes in
its own transaction: one message.delivered per message, never two.
"""

from __future__ import annotations

import pytest

from tests.scenarios import run_scenario

MESSAGES = 3000
BATCH = 500  # RECEIVING_BATCH_SIZE in the scenario


def receiving(fault: str) -> dict:
    return run_scenario("bench.receiving_faults", "--fault", fault, "--messages", str(MESSAGES))


def assert_every_receipt_applied_once(report: dict) -> None:
    assert report["acknowledged"] == 2 * MESSAGES, report  # every report (and its retry) answered 200
    assert 0 < report["waiting_at_fault"] < report["waiting_before"], report  # the fault struck part-way
    assert report["waiting_after"] == 0, report  # nothing left behind
    assert report["statuses"] == {"delivered": MESSAGES}, report
    assert report["messages_told_delivered"] == MESSAGES, report
    assert report["told_more_than_once"] == 0, report  # no batch applied twice


@pytest.mark.slow
def test_kill_9_of_the_receiving_worker_mid_batch_loses_no_receipt_and_applies_none_twice():
    report = receiving("kill")
    assert_every_receipt_applied_once(report)
    assert report["seconds_after_fault"] < 60, report  # the lease lapses, rqcron starts another job
    # Counted after each commit: never twice; a kill between a commit and its count loses that batch's.
    assert MESSAGES - BATCH <= report["delivered_counter"] <= MESSAGES, report


@pytest.mark.slow
def test_a_redis_flush_with_receipts_waiting_loses_none_the_rows_are_the_queue():
    report = receiving("redis")
    assert_every_receipt_applied_once(report)
    assert report["seconds_after_fault"] < 30, report  # rqcron starts the next job within a second
    assert report["delivered_counter"] <= MESSAGES, report  # counters start again from the flush

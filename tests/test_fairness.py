"""A single message, the reconciler and a small bulk job never wait behind other work.

bench/fairness.py in its own process (its worker process must share its database): one
`rqworker high default --with-scheduler` sends a 3,000-recipient campaign at 100 msg/s (half a
minute); a tenth of the way in, one message goes the way POST /message sends it, and the
reconciler runs every two seconds as rqcron runs it (in its own process). On PostgreSQL when DATABASE_URL is set.

The audit's case, smaller: key A posts two bulk jobs of 1,000 recipients on a 40 msg/s channel,
key B a 1-recipient job on another, idle channel; one worker at the production settings.
"""

from __future__ import annotations

import django_rq
import pytest

from tests.scenarios import run_scenario

RECIPIENTS = 3000
BIG_JOB = 1000


@pytest.fixture(scope="module")
def report() -> dict:
    # Before the per-test flush (a module fixture comes first): the bench refuses a busy queue, and
    # an earlier test may have left a job on it.
    django_rq.get_connection("default").flushdb()
    return run_scenario("bench.fairness", "--recipients", str(RECIPIENTS), timeout=300)


@pytest.mark.slow
def test_a_single_api_message_goes_out_within_seconds_while_a_campaign_runs_on_its_channel(report):
    assert report["campaign"] == "completed" and report["statuses"] == {"sent": RECIPIENTS}, report
    # Before the fix it waited for the whole campaign (30 s, the dispatch job's slice).
    assert report["single_message_seconds"] is not None and report["single_message_seconds"] < 5, report
    assert report["campaign_share_sent_when_single_went"] < 0.5, report  # well before the campaign completed
    # Giving way repeats nothing. (The channel's rate is test_faults.py's to hold: on a loaded 2-core
    # machine a late batch can share a sliding second with the next here too.)
    assert report["duplicates"] == 0, report


@pytest.mark.slow
def test_the_reconcilers_periodic_runs_are_not_delayed_behind_campaign_send_jobs(report):
    assert report["reconciler_runs"] >= 10, report
    assert report["reconciler_longest_wait_seconds"] < 5, report


@pytest.fixture(scope="module")
def bulk_report() -> dict:
    django_rq.get_connection("default").flushdb()
    args = ("--scenario", "bulk", "--recipients", str(BIG_JOB), "--rate", "40", "--finish")
    return run_scenario("bench.fairness", *args, timeout=400)


@pytest.mark.slow
def test_a_1_recipient_bulk_job_is_sent_within_seconds_behind_another_keys_two_big_jobs(bulk_report):
    # Before the fair turns it was expanded in seconds but sent after a minute (61 s on the
    # 2-core machine): every dispatch job of the big jobs came first, each for up to its budget.
    assert bulk_report["small_job_expanded_seconds"] is not None, bulk_report
    assert bulk_report["small_job_expanded_seconds"] < 10, bulk_report
    # Seconds, not the big jobs' time: 3 to 11 s measured here on a machine shared with other runs.
    assert bulk_report["small_job_sent_seconds"] is not None and bulk_report["small_job_sent_seconds"] < 20, bulk_report
    assert bulk_report["big_jobs_sent_when_small_went"] < BIG_JOB, bulk_report  # long before they completed


@pytest.mark.slow
def test_the_big_jobs_taking_turns_still_send_every_message_exactly_once(bulk_report):
    assert bulk_report["big_jobs"] == ["completed", "completed"], bulk_report
    assert bulk_report["big_job_statuses"] == {"sent": 2 * BIG_JOB}, bulk_report
    assert bulk_report["duplicates"] == 0, bulk_report

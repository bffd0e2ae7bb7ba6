"""A contact import whose worker is killed with SIGKILL (or stalls) partway, then run again.

Each test runs bench/import_kill.py in its own process (tests/scenarios.py says why): a staff
member imports a generated 30,000-row file through the admin, in chunks of 1,000 rows, and the
worker is killed (or frozen) once the second chunk is committed. On PostgreSQL when DATABASE_URL
is set, else on a SQLite file.
"""

from __future__ import annotations

import os

import pytest

from tests.scenarios import run_scenario

ROWS = 30_000


def crash(fault: str) -> dict:
    return run_scenario("bench.import_kill", "--rows", str(ROWS), "--fault", fault)


def assert_stopped_saying_which_rows_went_in(report: dict) -> None:
    last = report["last_committed_row"]
    assert report["state_after_fault"] == "running", report
    assert report["page_right_after"] == "running", report  # nothing can tell yet
    assert 1001 < last < ROWS + 1, report  # past the first chunk, short of the end
    assert (
        f"Rows up to row {last} of the file are saved ({report['rows_read_at_stop']:,} rows)"
        in (report["stopped_message"])
    ), report
    assert report["rows_read_at_stop"] == last - 1, report
    # ... and that is exactly what the database holds: every good row up to it, none after.
    at_stop = report["at_stop"]
    assert at_stop["members"] == at_stop["members_expected"] > 0, report
    assert (at_stop["members_missing"], at_stop["members_after_last_row"]) == (0, 0), report
    assert (at_stop["rejected_missing"], at_stop["rejected_after_last_row"]) == (0, 0), report
    assert report["offers_run_again"], report


def assert_run_again_finished_it_once(report: dict) -> None:
    assert (report["state"], report["error"]) == ("done", ""), report
    counts = report["counts"]
    assert counts["rows_read"] == report["rows_total"] == ROWS, report
    assert counts["created"] + counts["updated"] + counts["duplicates"] + counts["invalid"] == ROWS, report
    assert (counts["created"], counts["updated"]) == (report["created_expected"], report["updated_expected"]), report
    assert counts["duplicates"] == report["duplicates_expected"] > 0, report
    assert counts["invalid"] == report["invalid_expected"] > 0, report
    assert report["contacts"] == report["contacts_expected"], report  # one contact per number
    assert report["at_end"]["members"] == report["contacts_expected"], report  # each in the list once
    assert report["membership_repeats"] == 0, report
    assert report["contacts_opted_out"] == report["contacts_opted_out_expected"] > 0, report  # stay opted out
    # Every rejected row reported once, duplicates naming the row they repeat (a row saved by the
    # killed run included).
    assert report["rejections"] == report["rejected_rows_expected"] == counts["duplicates"] + counts["invalid"]
    assert report["rejected_rows_wrong"] == 0, report
    assert (report["report_rows"], report["report_rows_repeated"]) == (report["rejections"], 0), report
    assert report["duplicate_reasons_wrong"] == 0, report


@pytest.mark.slow
def test_an_import_killed_mid_file_says_which_rows_went_in_and_run_again_duplicates_nothing():
    report = crash("kill")
    assert_stopped_saying_which_rows_went_in(report)
    assert report["orphans"] == 0, report  # the parsing processes went with their work horse
    assert_run_again_finished_it_once(report)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="a frozen SQLite writer holds the one write lock: everything waits for it, as it must",
)
def test_a_stalled_import_declared_stopped_gives_way_to_the_run_that_took_it_over():
    report = crash("freeze")
    assert_stopped_saying_which_rows_went_in(report)
    assert report["stalled_job"] == "finished", report  # it woke, found the import taken, stopped
    assert_run_again_finished_it_once(report)

"""Importing a 1,000,000-row suppression file from another tool onto the suppression list.

The file is what a tool's export looks like: a header, four in five numbers already E.164, the
rest in a national spelling ("(415) 555-0123", read in the US), a reason on some rows, a date on
some, and every 50th row a repeat of an earlier number. The import runs the admin's code
(contacts/importing/suppression.py) in this process, so the peak memory measured is this process's:
the file must stream through in chunks, never whole. Targets: 60 s and 250 MB on PostgreSQL on
the 2-core reference machine (DATABASE_URL set; SQLite works but is not the target).
BENCH_SUPPRESSION_ROWS changes the row count.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from pathlib import Path

from bench.harness import PeakRss, prepare_django

ROWS = int(os.environ.get("BENCH_SUPPRESSION_ROWS", "1000000"))
TARGET_SECONDS = 60.0
TARGET_PEAK_MB = 250.0
PREFIX = "+1628"  # a US area code kept for this bench's numbers, removed afterwards


def write_file(path: Path, rows: int) -> int:
    """Writes the file; returns how many distinct numbers it holds."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Phone", "Reason", "Date"])
        for n in range(rows):
            k = 2_000_000 + (n - 49 if n % 50 == 49 else n)  # a repeat of a number 49 rows earlier
            number = f"{PREFIX}{k}"
            if n % 5 == 4:
                number = f"(628) {k // 10_000}-{k % 10_000:04d}"
            reason = "Unsubscribed in Mailchimp" if n % 3 == 0 else ""
            date = "2025-11-02" if n % 4 == 0 else ""
            writer.writerow([number, reason, date])
    return rows - rows // 50


def run() -> list[dict]:
    prepare_django()
    from django.db import connection

    from contacts.importing.suppression import import_suppression_file
    from contacts.models import Suppression

    Suppression.objects.filter(number__startswith=PREFIX).delete()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "unsubscribes.csv"
        distinct = write_file(path, ROWS)
        started = time.monotonic()
        with PeakRss(os.getpid()) as memory:
            result = import_suppression_file(str(path), path.name, region="US", reason="Bench")
        elapsed = time.monotonic() - started
    listed = Suppression.objects.filter(number__startswith=PREFIX).count()
    Suppression.objects.filter(number__startswith=PREFIX).delete()
    note = (
        f"{connection.vendor}; {result.rows:,} rows, {result.added:,} added, {result.already:,} repeats, "
        f"{result.invalid:,} refused; {listed:,} on the list (expected {distinct:,})"
    )
    return [
        {
            "name": f"{ROWS:,}-row suppression file",
            "figure": round(elapsed, 1),
            "unit": "s",
            "target": TARGET_SECONDS,
            "ratio": round(TARGET_SECONDS / elapsed, 2) if elapsed else None,
            "note": note,
        },
        {
            "name": "peak memory of the importing process",
            "figure": round(memory.peak_mb, 1),
            "unit": "MB",
            "target": TARGET_PEAK_MB,
            "ratio": round(TARGET_PEAK_MB / memory.peak_mb, 2) if memory.peak_mb else None,
            "note": "the whole process (Django included); the rows stream through in chunks of 20,000",
        },
    ]

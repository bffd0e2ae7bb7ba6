"""Running a bench scenario (bench/chaos.py, bench/fanout_kill.py, bench/import_kill.py) from a test.

A scenario runs in its own process because the `rqworker` processes it starts and kills must share
its database, and the suite's own test database is out of their reach (SQLite in memory, or a
PostgreSQL test database that only this process's connection set up): the scenario migrates
DATABASE_URL, or a SQLite file in a temp folder, and cleans up after itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def run_scenario(module: str, *args: str, timeout: float = 400, without: tuple[str, ...] = ()) -> dict:
    """Run ``python -m module *args --json``; its report (the last line) as a dict.

    ``without``: environment variables the scenario must not see (DATABASE_URL, for one that
    must run on its own SQLite file whatever the suite runs on)."""
    hidden = {"DJANGO_SETTINGS_MODULE", *without}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--json"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])

"""`make run` keeps no database connection per request: after a burst of concurrent API calls the
database has as many connections as before it (PostgreSQL under `make test` with DATABASE_URL; the
open handles on the SQLite file otherwise).

The audit's reproduction: on PostgreSQL, each request thread of the development server kept its
connection open (CONN_MAX_AGE), idle, until PostgreSQL answered "too many clients already".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from tests.test_make_run import BASE_DIR, free_port_block, launch_make_run, new_users_environment, wait_for

pytestmark = pytest.mark.slow
REQUESTS, AT_ONCE = 240, 24


def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def database(tmp_path):
    """What `make run` is given: a PostgreSQL database of its own (made here, dropped after), or
    none (SQLite under its VAR_DIR)."""
    if not on_postgresql():
        yield {"url": None, "sqlite": tmp_path / "var" / "db.sqlite3"}
        return
    import psycopg

    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_make_run"
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"], dbname="postgres"
    )
    admin.autocommit = True
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    try:
        yield {"url": url, "name": name, "admin": admin}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def open_connections(database) -> int:
    if database["url"]:
        row = database["admin"].execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database["name"]])
        return row.fetchone()[0]
    return sum(1 for link in _open_files() if link == str(database["sqlite"]))


def _open_files():
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                yield os.readlink(fd)
        except OSError:  # a process that ended, or not ours to read
            continue


@pytest.fixture
def make_run(tmp_path, database):
    port = free_port_block(4)
    log = tmp_path / "run.log"
    extra = {"DATABASE_URL": database["url"]} if database["url"] else {}
    env = new_users_environment(
        tmp_path / "var", PORT=str(port), FAKES_PORT=str(port + 1), API_RATE_LIMIT_PER_MINUTE="100000", **extra
    )
    launcher = launch_make_run(env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", launcher, log)
        yield {"env": env, "base": f"http://127.0.0.1:{port}", "log": log}
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)
            try:
                launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)


def manage(make_run, *args: str) -> str:
    command = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    result = subprocess.run(command, cwd=BASE_DIR, env=make_run["env"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def post_message(base: str, api_key: str, channel_key: str, n: int) -> int | str:
    body = {"provider": "sandbox", "channel_key": channel_key, "to": f"+1415555{n:04d}", "text": "Hello"}
    request = urllib.request.Request(f"{base}/message", json.dumps(body).encode(), method="POST")
    request.add_header("apikey", api_key)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return type(error).__name__


def test_a_burst_of_concurrent_api_calls_leaves_no_idle_connection_behind(make_run, database):
    api_key = manage(make_run, "createapikey", "admin")
    channel_key = manage(
        make_run,
        "shell",
        "-c",
        "from providers.models import Channel; print(Channel.objects.get(provider='sandbox').channel_key)",
    )
    base = make_run["base"]
    assert post_message(base, api_key, channel_key, 0) == 200  # the web server has been to the database
    before = open_connections(database)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = Counter(pool.map(lambda n: post_message(base, api_key, channel_key, n), range(1, REQUESTS + 1)))
    assert answers == {200: REQUESTS}, (answers, make_run["log"].read_text()[-3000:])

    # The worker's jobs (forked processes) come and go; a leak would hold one per request thread.
    deadline = time.monotonic() + 15
    while (after := open_connections(database)) > before + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert after <= before + 2, f"{after} connections after {REQUESTS} requests ({AT_ONCE} at once), {before} before"

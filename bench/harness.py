"""What every bench needs: Django on a throwaway database, worker processes, and cleaning up."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
_prepared = False


def prepare_django() -> None:
    """Set Django up on DATABASE_URL when given, else a new SQLite file in a temp folder; migrate it.

    The settings go into os.environ so that worker processes started later see the same database.
    """
    global _prepared  # noqa: PLW0603 - Django can only be set up once per process
    if _prepared:
        return
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("REDIS_URL is not set: run the benches with `make bench` (it starts a private Redis).")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if not os.environ.get("DATABASE_URL"):
        folder = tempfile.mkdtemp(prefix="messaging-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["VAR_DIR"] = folder  # settings put the SQLite file (WAL, busy timeout) there
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    # Fixed, not random: a bench keeps its PostgreSQL data (admin_10m) and must read its channels next time.
    os.environ.setdefault("CREDENTIALS_KEY", "YmVuY2gtb25seS1jcmVkZW50aWFscy1rZXktLS0tLS0=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the sandbox logs every message at INFO

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    _refuse_a_busy_queue()
    _prepared = True


def _refuse_a_busy_queue() -> None:
    """The bench's workers would take someone else's jobs: only run on an idle queue."""
    import django_rq

    for name in ("high", "default"):
        queue = django_rq.get_queue(name)
        if queue.count or queue.scheduled_job_registry.count:
            raise SystemExit(
                f"The Redis at REDIS_URL has {queue.count} job(s) queued on {name}: the benches need an idle one. "
                "Run `make bench` without REDIS_URL for a private Redis."
            )


def free_port() -> int:
    """A port no one is listening on now: two runs side by side (or a slow-closing last one)
    must never share a loopback endpoint, or one counts the other's messages."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_workers(count: int, *extra_args: str) -> list[subprocess.Popen]:
    """Start ``count`` `manage.py rqworker --burst` processes; each stops when the queue is empty."""
    workers = []
    for number in range(1, count + 1):
        env = {**os.environ, "BENCH_WORKER": f"worker-{number}"}
        queues = ["high", "default"]  # as in production: single/API messages first, then campaigns
        command = [sys.executable, "manage.py", "rqworker", *queues, "--burst", "--verbosity", "0", *extra_args]
        workers.append(subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL))
    return workers


def wait_for(workers: list[subprocess.Popen], timeout: float) -> None:
    """Wait for every worker to finish; stop the ones that overrun and say so."""
    deadline = time.monotonic() + timeout
    try:
        for worker in workers:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        raise SystemExit(f"The workers did not finish within {timeout:.0f} s.") from None
    failed = [worker.returncode for worker in workers if worker.returncode]
    if failed:
        raise SystemExit(f"A worker exited with {failed}.")


def forget_channel(channel) -> None:
    """Delete a bench channel with its messages and campaigns (they may be in a real DATABASE_URL).

    The messages go first, in one statement (the ORM would load a million of them to delete
    them, and a campaign with messages is protected)."""
    from django.db import connection

    from campaigns.models import Campaign, OutboundMessage

    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE channel_id = %s", [channel.pk])
    Campaign.objects.filter(channel=channel).delete()
    channel.delete()


class PeakRss:
    """Samples the memory of each given process with all its descendants added up (an RQ worker
    and the work horse it forks, or the pool an import starts); ``peak_mb`` is the largest such sum."""

    def __init__(self, *pids: int) -> None:
        self.pids, self.peak, self._stop = pids, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for pid in self.pids:
                self.peak = max(self.peak, sum(rss_kb(member) for member in tree(pid)))

    @property
    def peak_mb(self) -> float:
        return self.peak / 1024


def tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def still_running(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are alive (a zombie, dead but not yet reaped, is not)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def rss_kb(pid: int) -> int:
    """Proportional set size: pages shared between the RQ worker and the job it forked count once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

"""The send worker: one long-lived process that runs its jobs itself, keeping its connections warm.

RQ's default worker forks a work horse per job: every dispatch job started with an empty
connection pool, so every job opened its connections again (a TLS handshake each against a real
provider: 600 to 1,957 new connections per 5,000 messages were seen). This worker runs each job in
its own process, like RQ's SimpleWorker, so providers.http's pool (and its TLS sessions) lasts
from job to job. What forking gave is kept by other means:

- a job that runs past its timeout is stopped by RQ's alarm (SIGALRM) all the same, in this
  process; its claim stops being renewed with it, so the reconciler hands its rows on after
  SENDING_STALE_SECONDS (a batch in flight becomes ``unknown``, never resent silently);
- after WORKER_MAX_JOBS jobs, or once it holds more than WORKER_MAX_MEMORY_MB, the worker finishes
  its job, stops taking new ones and starts afresh in the same process (exec), so a leak cannot
  grow without end and nothing needs to restart it;
- each job starts with fresh database connections where the old ones were closed or broken.

A failed job's traceback is stored (RQ's failed registry and result, shown by django-rq's pages)
through the same redaction as the logs (messaging_site/logs.py): an exception's text can carry a
provider's answer, a credential or a webhook address with its token.

Used by `manage.py rqworker` (settings.RQ["WORKER_CLASS"]); `--worker-class rq.Worker` gives the
forking worker back.
"""

from __future__ import annotations

import logging
import os
import resource
import sys

from django.conf import settings
from django.db import close_old_connections
from rq import SimpleWorker

from messaging_site.logs import redacted

log = logging.getLogger(__name__)


class SendWorker(SimpleWorker):
    """A SimpleWorker that restarts itself after so many jobs or so much memory."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.jobs_run = 0
        self.restart_because = ""

    def execute_job(self, job, queue) -> None:
        close_old_connections()  # a connection the database dropped between jobs is replaced
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()
        self.jobs_run += 1
        self.restart_because = restart_reason(self.jobs_run, memory_mb())
        if self.restart_because:
            self._stop_requested = True  # RQ's loop stops before taking another job

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string: str = "") -> None:
        super().handle_job_failure(job, queue, started_job_registry, exc_string=redacted(exc_string))

    def work(self, *args, **kwargs) -> bool:
        worked = super().work(*args, **kwargs)
        if self.restart_because:
            log.warning("worker %s restarts: %s", self.name, self.restart_because)
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])  # noqa: S606 - our own command, again
        return worked


def restart_reason(jobs: int, memory: float) -> str:
    """Why the worker should start afresh now ("" if it should not)."""
    if jobs >= settings.WORKER_MAX_JOBS:
        return f"{jobs} jobs run (WORKER_MAX_JOBS is {settings.WORKER_MAX_JOBS})"
    if memory > settings.WORKER_MAX_MEMORY_MB:
        return f"{memory:.0f} MB in use (WORKER_MAX_MEMORY_MB is {settings.WORKER_MAX_MEMORY_MB})"
    return ""


def memory_mb() -> float:
    """This process's resident memory now (Linux /proc), or its peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

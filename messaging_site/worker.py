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

A worker started ``--with-scheduler`` runs RQ's scheduler (the jobs booked for later: retries,
sending-hours openings) only if it gets the scheduler's lock. RQ tries again only every ten
minutes, and an idle worker sleeps in its wait for a job as long: after kill -9 of the worker that
held it, the lock lasts another minute, and no scheduled job ran for ten (the chaos bench's kill
on a slow edge: rows held back as late, due again in 0.25 s, waited for the reconciler's 60 s
safety net, over and over). So a worker without the scheduler tries for it every
SCHEDULER_RETRY_SECONDS, waiting for jobs no longer than that meanwhile.

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
from rq.utils import now

from messaging_site.logs import redacted

log = logging.getLogger(__name__)

SCHEDULER_RETRY_SECONDS = 5


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

    @property
    def without_scheduler(self) -> bool:
        """Started with the scheduler, but another process holds its lock (or held it: a dead one's
        lock outlives it by a minute)."""
        scheduler = getattr(self, "scheduler", None)  # (asked in __init__, before RQ sets it)
        return scheduler is not None and (scheduler._process is None or not scheduler._process.is_alive())

    @property
    def should_run_maintenance_tasks(self) -> bool:
        # RQ's maintenance is where a worker tries for the scheduler's lock again (and cleans registries).
        if self.without_scheduler and self.last_cleaned_at is not None:
            return (now() - self.last_cleaned_at).total_seconds() > SCHEDULER_RETRY_SECONDS
        return super().should_run_maintenance_tasks

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker checks again that often, not every seven minutes.
        return SCHEDULER_RETRY_SECONDS if self.without_scheduler else super().dequeue_timeout

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

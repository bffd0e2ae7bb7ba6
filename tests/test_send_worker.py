"""The send worker (messaging_site/worker.py): `manage.py rqworker` runs every job in its own
long-lived process (so the providers' connections stay warm from job to job), still stops a job
that runs past its timeout, and starts afresh in the same process after WORKER_MAX_JOBS jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from rq.job import JobStatus

BASE_DIR = Path(__file__).resolve().parent.parent


def run_worker(tmp_path, **settings: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTEST_CURRENT_TEST")},
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings",
        "LOCAL_ENV_FILE": "",
        "SECRET_KEY": "x" * 50,
        "DEBUG": "true",
        "VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    command = [sys.executable, str(BASE_DIR / "manage.py"), "rqworker", "high", "--burst"]
    return subprocess.run(command, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_jobs_run_in_the_workers_own_process_and_it_restarts_itself_after_its_maximum(tmp_path):
    queue = django_rq.get_queue("high")
    jobs = [queue.enqueue("os.getpid") for _ in range(5)]
    worker = run_worker(tmp_path, WORKER_MAX_JOBS="2")
    output = worker.stdout + worker.stderr
    assert worker.returncode == 0, output
    pids = {job.id: queue.fetch_job(job.id).return_value() for job in jobs}
    # One process ran them all (no work horse forked per job), across two restarts in place (exec).
    assert len(set(pids.values())) == 1, pids
    assert output.count("restarts: 2 jobs run (WORKER_MAX_JOBS is 2)") == 2, output


@pytest.mark.slow
def test_a_job_past_its_timeout_is_stopped_and_the_worker_goes_on_with_the_next(tmp_path):
    queue = django_rq.get_queue("high")
    hung = queue.enqueue("time.sleep", 60, job_timeout=1)
    after = queue.enqueue("os.getpid")
    worker = run_worker(tmp_path)
    output = worker.stdout + worker.stderr
    assert worker.returncode == 0, output
    assert queue.fetch_job(hung.id).get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in output, output
    assert queue.fetch_job(after.id).get_status() == JobStatus.FINISHED


def test_a_worker_holding_more_than_its_memory_maximum_restarts(settings):
    from messaging_site.worker import memory_mb, restart_reason

    settings.WORKER_MAX_MEMORY_MB, settings.WORKER_MAX_JOBS = 512, 1000
    assert restart_reason(3, 600.0) == "600 MB in use (WORKER_MAX_MEMORY_MB is 512)"
    assert restart_reason(3, 100.0) == ""
    assert 10 < memory_mb() < 4096  # this process's resident memory, read from /proc


# What a provider's answer or a request's address can carry into an exception's text.
SECRETS = ("tok-9f8e7d6c5b4a", "s3cr3t-Auth-Value", "abcd1234efgh5678", "hook0123token4567")


def fail_with_secrets() -> None:
    raise RuntimeError(
        f"provider answered 401 to POST https://api.example.com/send?api_key={SECRETS[0]} "
        f'{{"auth_token": "{SECRETS[1]}"}} Authorization: Bearer {SECRETS[2]} '
        f"(callback http://example.com/webhooks/twilio/{SECRETS[3]}/status)"
    )


@pytest.mark.django_db(transaction=True)  # the worker closes the connection between jobs (committed rows stay)
def test_a_failed_jobs_error_is_kept_redacted_for_the_queue_pages(admin_client, settings):
    """RQ keeps a failed job's traceback (its failed registry, its result) and django-rq's pages
    show it: the worker stores it through the same redaction as the logs."""
    from django.urls import reverse
    from rq import Queue

    from messaging_site.worker import SendWorker

    connection = django_rq.get_connection("high")
    queue = Queue("high", connection=connection)
    job = queue.enqueue(fail_with_secrets)
    SendWorker([queue], connection=connection).work(burst=True)

    job = queue.fetch_job(job.id)
    assert job.get_status() == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids()
    result = job.latest_result()
    kept = result.exc_string
    assert "RuntimeError: provider answered 401" in kept and "***" in kept, kept  # still says what went wrong
    where = [list(settings.RQ_QUEUES).index("high"), job.id, result.id]
    page = admin_client.get(reverse("django_rq:result_detail", args=where))
    assert page.status_code == 200
    assert "provider answered 401" in page.content.decode()
    for secret in SECRETS:
        assert secret not in kept
        assert secret not in page.content.decode()


def test_a_worker_that_found_the_scheduler_lock_taken_tries_for_it_again_within_seconds(monkeypatch):
    """After kill -9 of the worker holding it, its lock outlives it by a minute: RQ alone tried again
    only after ten, and scheduled jobs (retries, openings) waited that long."""
    from datetime import timedelta

    from rq.scheduler import RQScheduler
    from rq.utils import now

    from messaging_site.worker import SCHEDULER_RETRY_SECONDS, SendWorker

    connection = django_rq.get_connection("default")
    lock = RQScheduler.get_locking_key("default")
    connection.set(lock, "a-worker-killed-a-moment-ago", ex=60)
    worker = SendWorker([django_rq.get_queue("default")], connection=connection)
    worker.scheduler = RQScheduler(worker.queues, connection=connection)  # as --with-scheduler makes it
    worker.scheduler.acquire_locks()
    worker.last_cleaned_at = now()
    assert not worker.scheduler.acquired_locks
    assert worker.dequeue_timeout == SCHEDULER_RETRY_SECONDS  # an idle worker does not wait minutes for a job
    assert not worker.should_run_maintenance_tasks

    connection.delete(lock)  # the dead worker's lock expired
    worker.last_cleaned_at = now() - timedelta(seconds=SCHEDULER_RETRY_SECONDS + 1)
    assert worker.should_run_maintenance_tasks
    started = []
    monkeypatch.setattr(worker.scheduler, "start", lambda: started.append(True))  # not a process of its own here
    worker.run_maintenance_tasks()
    assert started and worker.scheduler.acquired_locks == {"default"}
    connection.delete(lock)


def test_a_worker_without_the_scheduler_waits_for_jobs_as_rq_does():
    from messaging_site.worker import SendWorker

    worker = SendWorker([django_rq.get_queue("default")], connection=django_rq.get_connection("default"))
    assert worker.dequeue_timeout > 60

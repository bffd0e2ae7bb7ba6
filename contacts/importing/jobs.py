"""The import as an RQ job: enqueued after the commit, watched for a worker that died under it."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from contacts.importing import engine
from contacts.models import ContactImport

log = logging.getLogger(__name__)
QUEUE_NAME = "default"
JUST_QUEUED = timedelta(seconds=10)
JOB_TIMEOUT_SECONDS = 3 * 3600  # a million rows take about a minute and a half; leave room for slow machines


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "CONTACT_IMPORT_STALE_SECONDS", 180))


def run_import_job(import_id: int) -> dict:
    """Run (or carry on) one import; the ContactImport row holds every count and the outcome."""
    contact_import = ContactImport.objects.get(pk=import_id)
    if contact_import.state == ContactImport.State.DONE:
        return {"import": import_id, "state": "done"}
    job = get_current_job()
    if job is not None and job.id != contact_import.rq_job_id:  # run again since: a newer job has it
        return {"import": import_id, "state": "superseded"}
    engine.run(contact_import)
    return {"import": import_id, "state": contact_import.state, "rows": contact_import.rows_read}


def enqueue_import(contact_import: ContactImport) -> None:
    """Mark the import queued and give it to a worker once the transaction commits."""
    job_id = f"contact-import-{contact_import.pk}-{secrets.token_hex(4)}"
    contact_import.state = ContactImport.State.QUEUED
    contact_import.rq_job_id = job_id
    contact_import.error = ""
    contact_import.finished_at = None
    contact_import.heartbeat_at = timezone.now()
    contact_import.save(update_fields=["state", "rq_job_id", "error", "finished_at", "heartbeat_at"])

    def enqueue() -> None:
        try:
            queue = django_rq.get_queue(QUEUE_NAME, commit_mode="auto")
            queue.enqueue(run_import_job, contact_import.pk, job_id=job_id, job_timeout=JOB_TIMEOUT_SECONDS)
        except RedisError as error:
            log.warning("contact import %s not enqueued", contact_import.pk, exc_info=True)
            ContactImport.objects.filter(pk=contact_import.pk).update(
                state=ContactImport.State.FAILED,
                error=f"The import could not be queued (the job queue is unavailable: {error}). Run it again.",
            )

    transaction.on_commit(enqueue)


def check_worker(contact_import: ContactImport) -> ContactImport:
    """Turn an import whose worker died (killed, restarted, job lost) into a failed one that says
    which rows went in; an import still making progress is left alone."""
    if contact_import.state not in (ContactImport.State.QUEUED, ContactImport.State.RUNNING):
        return contact_import
    status = _job_status(contact_import.rq_job_id)
    lost = status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
    if status is None:  # not in Redis: lost (a flush, a restart), unless it was queued a moment ago
        lost = not (
            contact_import.state == ContactImport.State.QUEUED
            and contact_import.heartbeat_at is not None
            and timezone.now() - contact_import.heartbeat_at < JUST_QUEUED
        )
    if status == JobStatus.FINISHED:
        contact_import.refresh_from_db()
        lost = contact_import.state in (ContactImport.State.QUEUED, ContactImport.State.RUNNING)
    stale = (
        contact_import.state == ContactImport.State.RUNNING
        and contact_import.heartbeat_at is not None
        and timezone.now() - contact_import.heartbeat_at > stale_after()
    )
    if not (lost or stale):
        return contact_import
    # Only if nothing changed since it was read: a chunk saved meanwhile means the worker is alive
    # (and the message below would name the wrong last row), a new job means it was run again.
    unchanged = ContactImport.objects.filter(
        pk=contact_import.pk,
        state=contact_import.state,
        rq_job_id=contact_import.rq_job_id,
        last_committed_row=contact_import.last_committed_row,
    )
    updated = unchanged.update(
        state=ContactImport.State.FAILED,
        error=engine.stopped_message(
            contact_import, "The worker running this import stopped (killed, restarted or stalled)."
        ),
        finished_at=timezone.now(),
    )
    if updated:
        log.warning("contact import %s: its worker stopped (job %s)", contact_import.pk, contact_import.rq_job_id)
    contact_import.refresh_from_db()
    return contact_import


def _job_status(job_id: str) -> str | None:
    if not job_id:
        return None
    try:
        return Job.fetch(job_id, connection=django_rq.get_connection(QUEUE_NAME)).get_status()
    except NoSuchJobError:
        return None
    except RedisError:
        return JobStatus.STARTED  # cannot tell: assume it is still going rather than alarm anyone

"""The bulk messaging history in the admin: progress shown, and changes or cancelling until a job starts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import BulkJob, Campaign
from campaigns.pipeline.fanout import fan_out

pytestmark = pytest.mark.django_db


def a_job(channel, scheduled_at=None, recipients=("+14155550123", "+14155550124")) -> BulkJob:
    scheduled = scheduled_at is not None
    job = Campaign.objects.create(
        name="API bulk job, 2 recipients",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        text="Hi {{name}}",
        inline_recipients=[{"to": to} for to in recipients],
        status=Campaign.Status.SCHEDULED if scheduled else Campaign.Status.RUNNING,
        scheduled_at=scheduled_at,
        sender_label="API",
    )
    return BulkJob.objects.get(pk=job.pk)


def test_the_history_lists_bulk_jobs_with_their_progress(admin_client, channel):
    job = a_job(channel)
    fan_out(job.pk)
    Campaign.objects.create(name="A staff campaign", channel=channel)

    page = admin_client.get("/admin/campaigns/bulkjob/").content.decode()

    assert "API bulk job, 2 recipients" in page
    assert "queued: 2" in page
    assert "A staff campaign" not in page


def test_a_scheduled_job_can_be_moved_and_reworded_in_the_admin(admin_client, channel):
    job = a_job(channel, scheduled_at=timezone.now() + timedelta(hours=1))
    later = timezone.localtime(timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    response = admin_client.post(
        f"/admin/campaigns/bulkjob/{job.pk}/change/",
        {"text": "Hello {{name}}", "scheduled_at_0": later.date().isoformat(), "scheduled_at_1": later.time()},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    job.refresh_from_db()
    assert (job.text, job.scheduled_at) == ("Hello {{name}}", later)


def test_a_started_job_is_read_only(admin_client, channel):
    job = a_job(channel)
    page = admin_client.get(f"/admin/campaigns/bulkjob/{job.pk}/change/").content.decode()
    assert 'name="text"' not in page
    assert 'name="scheduled_at_0"' not in page


def test_the_cancel_action_stops_only_jobs_not_started(admin_client, channel):
    waiting = a_job(channel, scheduled_at=timezone.now() + timedelta(hours=1))
    running = a_job(channel)
    admin_client.post(
        "/admin/campaigns/bulkjob/",
        {"action": "cancel_jobs", "_selected_action": [waiting.pk, running.pk], "post": "yes"},
    )
    waiting.refresh_from_db()
    running.refresh_from_db()
    assert waiting.status == Campaign.Status.CANCELLED
    assert running.status == Campaign.Status.RUNNING
    assert fan_out(waiting.pk) == 0

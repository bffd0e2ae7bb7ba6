# ruff: noqa: F811  (fixture parameters share the names of the imported fixtures)
"""POST /messages/bulk to the end: fan-out in a real worker, dispatch through the sandbox, job status and updates."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import ApiKey, Campaign, OutboundMessage
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.jobs import reconcile
from contacts.models import Contact
from providers.models import Channel
from providers.sandbox import SandboxProvider

# The API client fixtures are shared with test_api_message.py; pytest finds them by name here.
from tests.test_api_message import api_key, api_user, call, errors  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status


def bulk(channel, recipients: list, **fields) -> dict:
    return {"provider": "sandbox", "channel_key": channel.channel_key, "recipients": recipients, **fields}


def create_job(call, channel, recipients: list, **fields) -> Campaign:
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, recipients, **fields))
    assert status == 200, answer
    return Campaign.objects.get(pk=int(answer["data"]["job_id"]))


def in_an_hour() -> str:
    return (timezone.now() + timedelta(hours=1)).isoformat()


@pytest.fixture
def sandbox_outbox(monkeypatch):
    """What the sandbox provider was handed, as (to, text) pairs: a spy, the real send still runs."""
    seen: list[tuple[str, str]] = []
    original = SandboxProvider.send_batch

    def spy(self, batch):
        seen.extend((m.to, m.text) for m in batch)
        return original(self, batch)

    monkeypatch.setattr(SandboxProvider, "send_batch", spy)
    return seen


def test_a_bulk_job_is_fanned_out_and_sent_by_the_worker(call, channel, make_contact, worker, sandbox_outbox):
    known = make_contact(phone="+14155550125", name="Cleo", city="Leeds")
    make_contact(phone="+14155550126", name="Dan").opt_out_phone("+14155550126", "STOP")
    recipients = [
        {"to": "14155550123", "name": "Ann", "order": "A-1"},
        {"to": "+14155550124", "name": "Bob", "order": 2},
        {"to": "+14155550123", "name": "Ann again", "order": "A-3"},  # the same number: sent once
        {"to": "+14155550125", "order": "A-4"},
        {"to": "+14155550126", "name": "Dan", "order": "A-5"},  # opted out: never sent
    ]
    job = create_job(call, channel, recipients, text="Hi {{name}} ({{city}}), order {{order}} is ready.")
    assert (job.kind, job.status) == (Campaign.Kind.BULK_API, Campaign.Status.RUNNING)
    assert not job.messages.exists()  # the answer came before the fan-out

    worker()

    assert sorted(sandbox_outbox) == [
        ("+14155550123", "Hi Ann (), order A-1 is ready."),
        ("+14155550124", "Hi Bob (), order 2 is ready."),
        ("+14155550125", "Hi Cleo (Leeds), order A-4 is ready."),
    ]
    job.refresh_from_db()
    assert job.status == Campaign.Status.COMPLETED
    assert job.recipient_count == 4
    assert job.messages.get(to="+14155550125").contact == known
    opted_out = job.messages.get(to="+14155550126")
    assert (opted_out.status, opted_out.error_code) == (Status.CANCELLED, "opted_out")

    status, answer, _ = call("GET", f"/messages/bulk/{job.pk}")
    assert status == 200
    assert answer["data"]["state"] == "completed"
    assert answer["data"]["messages"] == {"sent": 3, "cancelled": 1}


def test_duplicates_allowed_sends_each_occurrence(call, channel, worker, sandbox_outbox):
    recipients = [{"to": "+14155550123"}, {"to": "14155550123"}]
    job = create_job(call, channel, recipients, text="Hello", duplicates_allowed=True)
    worker()
    assert sandbox_outbox == [("+14155550123", "Hello"), ("+14155550123", "Hello")]
    assert sorted(job.messages.values_list("recipient_key", flat=True)) == ["+14155550123#0", "+14155550123#1"]


def test_a_fan_out_run_twice_adds_nothing_twice(call, channel):
    job = create_job(call, channel, [{"to": "+14155550123"}, {"to": "+14155550124"}], text="Hi")
    assert fan_out(job.pk) == 2
    # A crash after the inserts but before fanned_out_at was written: the re-run must not duplicate.
    Campaign.objects.filter(pk=job.pk).update(fanned_out_at=None)
    assert fan_out(job.pk) == 2
    assert OutboundMessage.objects.filter(campaign=job).count() == 2
    assert fan_out(job.pk) == 0  # already fanned out: nothing to do


def test_more_than_10000_recipients_is_400_naming_the_count(call, channel):
    recipients = [{"to": f"+1415555{i % 10_000:04d}"} for i in range(10_001)]
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, recipients, text="Hi"))
    assert status == 400  # out of the documented maxItems, like any field; 413 is for the body's size
    assert errors(answer) == ["recipients: 10,001 recipients; at most 10,000 per request."]
    assert not Campaign.objects.exists()


def test_a_body_over_10_mb_is_413(call, channel):
    padding = "x" * (10 * 1024 * 1024)
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, [{"to": "+14155550123"}], text=padding))
    assert status == 413
    assert errors(answer)[0].startswith("The body is")


def test_recipient_problems_are_listed_by_position(call, channel):
    recipients = [{"to": "+14155550123"}, {"to": "12"}, "+14155550124", {"to": "+14155550125", "bad-name": 1}]
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, recipients, text="Hi"))
    assert status == 400
    assert errors(answer) == [
        'recipients[1].to: "12" is not a phone number in E.164 (country code first, digits only, '
        "+ optional), e.g. +14155550123.",
        'recipients[2]: "+14155550124" is not an object such as {"to": "+14155550123", "name": "Ann"}.',
        'recipients[3]: "bad-name" cannot be a {{placeholder}} name (letters, digits and _).',
    ]


def test_thousands_of_problems_are_cut_short(call, channel):
    status, answer, _ = call("POST", "/messages/bulk", bulk(channel, [{"to": "1"}] * 500, text="Hi"))
    assert status == 400
    assert len(errors(answer)) == 51
    assert errors(answer)[-1] == "... and 450 more problems like these."


def test_a_scheduled_job_waits_and_can_be_moved_then_started(call, channel, worker):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi", schedule=in_an_hour())
    assert job.status == Campaign.Status.SCHEDULED
    worker()
    reconcile()
    worker()
    assert not job.messages.exists()

    status, answer, _ = call("PUT", f"/messages/bulk/{job.pk}", {"schedule": "2006-01-02T15:04:05-04:00"})
    assert status == 200, answer
    worker()

    job.refresh_from_db()
    assert job.status == Campaign.Status.COMPLETED
    assert job.messages.get().status == Status.SENT


def test_a_scheduled_job_can_be_cancelled_until_it_starts(call, channel, worker):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi", schedule=in_an_hour())
    status, answer, _ = call("PUT", f"/messages/bulk/{job.pk}", {"cancel": True})
    assert status == 200
    assert answer["data"]["state"] == "cancelled"
    Campaign.objects.filter(pk=job.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    reconcile()
    worker()
    assert not job.messages.exists()


def test_a_started_job_cannot_be_changed(call, channel):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi")
    status, answer, _ = call("PUT", f"/messages/bulk/{job.pk}", {"cancel": True})
    assert status == 409
    assert errors(answer) == [f"job_id: job {job.pk} is running; only a scheduled job can be cancelled."]
    status, answer, _ = call("PUT", f"/messages/bulk/{job.pk}", {"schedule": in_an_hour()})
    assert status == 409


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({}, 'Send either {"schedule": "<ISO 8601 time>"} or {"cancel": true}.'),
        ({"cancel": True, "schedule": "2006-01-02T15:04:05Z"}, 'Send either {"schedule"'),
        ({"schedule": "soon"}, 'schedule: "soon" is not an ISO 8601 time'),
        ({"text": "new"}, "text: unknown field"),
    ],
)
def test_an_update_must_say_what_to_change(call, channel, update, expected):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi", schedule=in_an_hour())
    status, answer, _ = call("PUT", f"/messages/bulk/{job.pk}", update)
    assert status == 400
    assert errors(answer)[0].startswith(expected)


def test_a_scheduled_job_whose_queue_entry_was_lost_is_started_by_the_reconciler(call, channel, worker):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi", schedule=in_an_hour())
    django_rq.get_connection("default").flushdb()  # Redis lost everything, the database did not
    due = timezone.now() - timedelta(seconds=1)
    Campaign.objects.filter(pk=job.pk).update(scheduled_at=due, updated_at=due - timedelta(hours=1))

    assert reconcile()["campaigns_started"] == 1
    assert reconcile()["campaigns_started"] == 0  # not enqueued again on every tick
    worker()

    assert job.messages.get().status == Status.SENT


def test_a_job_is_seen_only_by_keys_on_its_channel(call, channel):
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi")
    clerk_row, clerk_key = ApiKey.issue(
        get_user_model().objects.create_user("clerk", is_staff=True), every_channel=False
    )
    clerk_row.channels.add(Channel.objects.create(name="Other", provider="sandbox"))
    assert call("GET", f"/messages/bulk/{job.pk}", key=clerk_key)[0] == 404
    assert call("PUT", f"/messages/bulk/{job.pk}", {"cancel": True}, key=clerk_key)[0] == 404
    assert call("GET", f"/messages/bulk/{job.pk}")[0] == 200


def test_a_bulk_job_shows_the_team_member_as_sender(call, channel):
    get_user_model().objects.filter(username="shop").update(is_superuser=True)
    member = get_user_model().objects.create_user("ann", first_name="Ann", is_staff=True)
    job = create_job(call, channel, [{"to": "+14155550123"}], text="Hi", user_id=member.pk)
    fan_out(job.pk)
    assert (job.sender_label, job.created_by) == ("Ann", member)
    assert job.messages.get().sender_label == "Ann"
    assert Contact.objects.count() == 0  # a bulk job saves no contacts

"""Messages whose outcome is unknown: listed by campaign, checked with the provider, and settled by an
administrator (mark sent, mark failed with a reason, or resend accepting duplicates), from the admin
page and from `manage.py unknown_messages`; every change a conditional UPDATE that a race cannot repeat."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.events.delivery import deliver_due
from campaigns.events.signing import new_secret
from campaigns.models import Campaign, OutboundMessage, WebhookEndpoint
from campaigns.pipeline import unknown_outcomes as doubt
from campaigns.pipeline.sending import SendSummary, record_outcomes
from providers.base import Outcome, SendResult
from tests import test_twilio_support as support
from tests.conftest import run_worker
from tests.test_event_webhooks import Receiver

Status = OutboundMessage.Status
twilio_server, fake_twilio = support.twilio_server, support.fake_twilio
make_twilio_channel = support.make_twilio_channel
PAGE = reverse("admin:campaigns_outboundmessage_unknown")
ANN, BOB = "+447911123456", "+447911123457"


def in_doubt_message(channel, to=ANN, status=Status.UNKNOWN, campaign=None, minutes_ago=10, **fields):
    """A message as a lost worker leaves it: claimed, handed over, no answer recorded."""
    then = timezone.now() - timedelta(minutes=minutes_ago)
    message = OutboundMessage.objects.create(
        channel=channel,
        campaign=campaign,
        to=to,
        recipient_key=to if campaign else "",
        body=fields.pop("body", "Hello"),
        status=status,
        claimed_at=then,
        claim_token=uuid.uuid4() if status == Status.SENDING else None,
        attempts=1,
        error_code="worker_lost" if status == Status.UNKNOWN else "",
        **fields,
    )
    OutboundMessage.objects.filter(pk=message.pk).update(updated_at=then)  # auto_now set it to now
    message.refresh_from_db()
    return message


def state(message) -> tuple[str, str, str]:
    message.refresh_from_db()
    return message.status, message.resolved_by, message.resolution


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-test-password")
    client.force_login(user)
    return client


@pytest.fixture
def marketing_client(client, db):
    user = get_user_model().objects.create_user("mia", "mia@example.com", "a-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client.force_login(user)
    return client


# --- what is in doubt, and the decisions ------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_and_stale_sending_are_in_doubt_a_live_workers_batch_is_not(channel):
    unknown = in_doubt_message(channel)
    stuck = in_doubt_message(channel, to=BOB, status=Status.SENDING)
    live = in_doubt_message(channel, to="+447911123458", status=Status.SENDING, minutes_ago=0)
    assert set(doubt.in_doubt().values_list("id", flat=True)) == {unknown.pk, stuck.pk}
    assert live.pk not in doubt.in_doubt().values_list("id", flat=True)


@pytest.mark.django_db
def test_groups_count_by_campaign_and_channel_with_the_oldest(channel):
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi")
    for n in range(3):
        in_doubt_message(channel, to=f"+4479111230{n:02d}", campaign=campaign, minutes_ago=10 + n)
    in_doubt_message(channel, to=BOB, status=Status.SENDING, campaign=campaign)
    in_doubt_message(channel, to=ANN)
    first, second = doubt.groups(doubt.in_doubt())
    assert (first.campaign, first.unknown, first.stuck, first.total) == (campaign, 3, 1, 4)
    assert timezone.now() - first.oldest > timedelta(minutes=12)
    assert (second.campaign, second.unknown, second.campaign_key) == (None, 1, "none")


@pytest.mark.django_db
def test_two_administrators_racing_settle_a_message_once(channel):
    message = in_doubt_message(channel)
    assert doubt.mark_sent([message.pk], "amina").changed == 1
    second = doubt.mark_failed([message.pk], "bob", "Twilio has no record")
    assert (second.changed, second.skipped) == (0, 1)
    assert doubt.resend([message.pk], "carl", duplicates_accepted=True).changed == 0
    status, by, words = state(message)
    assert (status, by) == (Status.SENT, "amina") and "Marked sent" in words
    assert message.resolved_at is not None and message.sent_at == message.claimed_at


@pytest.mark.django_db(transaction=True)
def test_marking_sent_or_failed_tells_the_customers_systems_once(channel):
    """The worker could not tell them (the outcome was unknown): the decision does, once, to the
    endpoints that asked and to the message's status_callback; a second, late decision tells nothing."""
    receiver = Receiver()
    try:
        secret = new_secret()
        WebhookEndpoint.objects.create(url=receiver.url, secret=secret, event_types=["message.sent", "message.failed"])
        went = in_doubt_message(channel)
        lost = in_doubt_message(channel, to=BOB, status_callback=f"{receiver.url}/callback")
        doubt.mark_sent([went.pk], "amina", provider_ids={went.pk: "SM9"})
        doubt.mark_failed([lost.pk], "amina", "Twilio has no record of it")
        doubt.mark_failed([went.pk, lost.pk], "bob", "a late second decision")  # changes nothing: tells nothing
        deliver_due(30)
        told = sorted(
            (path, body["type"], body["data"]["message_id"])
            for path, body in ((h["path"], json.loads(b)) for h, b in receiver.requests)
        )
        assert told == sorted(
            [
                ("/hooks", "message.sent", went.pk),
                ("/hooks", "message.failed", lost.pk),
                ("/hooks/callback", "message.failed", lost.pk),
            ]
        )
        by_type = {json.loads(b)["type"]: json.loads(b)["data"] for h, b in receiver.requests if h["path"] == "/hooks"}
        assert by_type["message.sent"]["provider_message_id"] == "SM9" and by_type["message.sent"]["sent_at"]
        assert by_type["message.failed"]["error_code"] == "marked_failed"
        assert by_type["message.failed"]["error_message"] == "Twilio has no record of it"
    finally:
        receiver.server.shutdown()


@pytest.mark.django_db
def test_a_worker_answering_late_cannot_undo_a_decision(channel):
    message = in_doubt_message(channel, status=Status.SENDING)
    token = message.claim_token
    doubt.mark_failed([message.pk], "amina", "The provider says it never arrived")
    # The worker that held the claim writes its outcome after all: it finds the row no longer its own.
    record_outcomes([SendResult(message.pk, Outcome.ACCEPTED, "SM1")], token, False, SendSummary(), {})
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.provider_message_id == ""
    assert message.error_message == "The provider says it never arrived" and message.error_code == "marked_failed"


@pytest.mark.django_db
def test_failing_needs_a_reason_and_resending_needs_duplicates_accepted(channel):
    message = in_doubt_message(channel)
    with pytest.raises(ValueError, match="reason"):
        doubt.mark_failed([message.pk], "amina", "  ")
    with pytest.raises(ValueError, match="twice"):
        doubt.resend([message.pk], "amina", duplicates_accepted=False)
    assert state(message)[0] == Status.UNKNOWN


@pytest.mark.django_db
def test_a_cancelled_campaigns_messages_are_not_resent(channel):
    campaign = Campaign.objects.create(name="Off", channel=channel, text="Hi", status=Campaign.Status.CANCELLED)
    message = in_doubt_message(channel, campaign=campaign)
    assert doubt.resend([message.pk], "amina", duplicates_accepted=True).changed == 0
    assert state(message)[0] == Status.UNKNOWN


# --- checking with the provider ---------------------------------------------------------------------


@pytest.mark.django_db
def test_twilio_is_asked_by_sid_when_we_have_one(fake_twilio, make_twilio_channel):
    channel = make_twilio_channel()
    fake_twilio.messages["SM" + "a" * 32] = {"sid": "SM" + "a" * 32, "to": ANN, "status": "delivered", "from": ""}
    message = in_doubt_message(channel, provider_message_id="SM" + "a" * 32)
    said = doubt.check_with_provider(message)
    assert (said.found, said.status, said.provider_message_id) == (True, "delivered", "SM" + "a" * 32)
    missing = in_doubt_message(channel, to=BOB, provider_message_id="SM" + "b" * 32)
    assert doubt.check_with_provider(missing).found is False
    assert support.AUTH_TOKEN not in doubt.check_with_provider(missing).detail


@pytest.mark.django_db
def test_without_a_sid_twilio_is_asked_for_the_numbers_latest_messages_with_the_same_text(
    fake_twilio, make_twilio_channel
):
    from providers.registry import provider_for

    channel = make_twilio_channel()
    provider = provider_for(channel)
    from providers.base import OutgoingMessage

    [sent] = provider.send_batch([OutgoingMessage(id=1, to=ANN, text="Your code is 42")])
    reached = in_doubt_message(channel, body="Your code is 42", minutes_ago=1)
    said = doubt.check_with_provider(reached)
    assert said.found is True and said.provider_message_id == sent.provider_message_id
    assert said.status == "queued" and ANN in said.detail
    other_text = in_doubt_message(channel, to=ANN, body="Something else", minutes_ago=1)
    assert doubt.check_with_provider(other_text).found is False
    assert [r.path.endswith("/Messages.json") and r.method for r in fake_twilio.received[-2:]] == ["GET", "GET"]
    assert fake_twilio.received[-1].query["To"] == [ANN]


@pytest.mark.django_db
def test_a_provider_that_cannot_look_up_says_so(channel):
    said = doubt.check_with_provider(in_doubt_message(channel))
    assert said.found is None and "no way to look a message up" in said.detail


# --- the command ------------------------------------------------------------------------------------


def command(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    call_command("unknown_messages", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_lists_groups_by_campaign(channel):
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi")
    in_doubt_message(channel, campaign=campaign)
    in_doubt_message(channel, to=BOB, status=Status.SENDING)
    text = command()
    assert f"{campaign.pk} Spring sale" in text and "none (single and API)" in text
    assert "times in UTC" in text
    assert command("--campaign", "none").count("Sandbox") == 1
    assert "No message is in doubt." in command("--older-than", "60")


@pytest.mark.django_db
def test_the_command_marks_failed_with_a_reason_and_records_who(channel):
    message = in_doubt_message(channel)
    with pytest.raises(CommandError, match="--reason"):
        command("--resolve", "failed", "--yes")
    assert "1 message(s) settled: failed, by ops-oncall" in command(
        "--resolve", "failed", "--reason", "No record at Twilio", "--yes", "--by", "ops-oncall"
    )
    assert state(message) == (Status.FAILED, "ops-oncall", "Marked failed by a person: No record at Twilio")


@pytest.mark.django_db
def test_the_command_refuses_to_resend_without_confirmation(channel, monkeypatch):
    message = in_doubt_message(channel)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Nothing was changed"):
        command("--resolve", "resend")
    assert state(message)[0] == Status.UNKNOWN
    with pytest.raises(CommandError, match="--campaign: 'abc'"):
        command("--campaign", "abc")


@pytest.mark.django_db(transaction=True)
def test_the_command_resends_through_a_real_worker_and_twilio(fake_twilio, make_twilio_channel, monkeypatch):
    message = in_doubt_message(make_twilio_channel(), body="Your code is 7")
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "yes")
    out = command("--campaign", "none", "--resolve", "resend", "--by", "ops")
    assert "recipients get them twice" in out and asked  # the warning, then the question
    assert state(message)[0] == Status.QUEUED
    run_worker()
    status, by, words = state(message)
    assert (status, by) == (Status.SENT, "ops") and "may get it twice" in words
    [request] = [r for r in fake_twilio.received if r.method == "POST"]
    assert request.form["Body"] == ["Your code is 7"] and request.form["To"] == [ANN]


# --- the admin page ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_marketing_group_cannot_open_the_page_and_the_dashboard_sends_it_to_the_log(marketing_client, channel):
    in_doubt_message(channel)
    assert marketing_client.get(PAGE).status_code == 403
    dashboard = marketing_client.get(reverse("admin:index")).content.decode()
    assert "?status__exact=unknown" in dashboard and PAGE not in dashboard


@pytest.mark.django_db
def test_staff_given_the_permission_may_resolve(client, channel):
    user = get_user_model().objects.create_user("ops", "ops@example.com", "a-long-test-password", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["resolve_outcome", "view_outboundmessage"]))
    client.force_login(user)
    in_doubt_message(channel)
    assert client.get(PAGE).status_code == 200
    assert PAGE in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_the_page_lists_groups_and_a_groups_messages(admin_client, channel):
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi")
    message = in_doubt_message(channel, campaign=campaign)
    page = admin_client.get(PAGE).content.decode()
    assert "Spring sale" in page and f"?campaign={campaign.pk}&amp;channel={channel.pk}" in page
    page = admin_client.get(PAGE, {"campaign": campaign.pk, "channel": channel.pk}).content.decode()
    assert f'value="{message.pk}"' in page and "Spring sale on Sandbox: 1 in doubt" in page
    assert doubt.DUPLICATE_WARNING in page
    assert "not a group of this page" in admin_client.get(PAGE, {"campaign": "x", "channel": "1"}).content.decode()


@pytest.mark.django_db
def test_the_page_refuses_failing_without_a_reason_and_resending_without_confirmation(admin_client, channel):
    message = in_doubt_message(channel)
    group = f"{PAGE}?campaign=none&channel={channel.pk}"
    page = admin_client.post(group, {"action": "failed", "chosen": [message.pk]}).content.decode()
    assert "reason: say why" in page
    page = admin_client.post(group, {"action": "resend", "chosen": [message.pk]}).content.decode()
    assert "confirm_duplicates:" in page and "twice" in page
    assert state(message)[0] == Status.UNKNOWN


@pytest.mark.django_db
def test_marking_a_whole_group_failed_records_the_administrator(admin_client, channel):
    messages = [in_doubt_message(channel, to=f"+4479111230{n:02d}") for n in range(3)]
    group = f"{PAGE}?campaign=none&channel={channel.pk}"
    answer = admin_client.post(group, {"action": "failed", "whole_group": "on", "reason": "Gateway lost them"})
    assert answer.status_code == 302
    assert [state(m) for m in messages] == [(Status.FAILED, "root", "Marked failed by a person: Gateway lost them")] * 3
    page = admin_client.get(answer["Location"]).content.decode()
    assert "3 message(s) marked failed; recorded as decided by root." in page


@pytest.mark.django_db(transaction=True)
def test_check_then_resend_from_the_page_goes_through_a_real_worker(admin_client, fake_twilio, make_twilio_channel):
    channel = make_twilio_channel()
    message = in_doubt_message(channel, body="Your table is ready")
    group = f"{PAGE}?campaign=none&channel={channel.pk}"

    page = admin_client.post(group, {"action": "check", "chosen": [message.pk]}).content.decode()
    assert "Does not have it." in page and "Twilio lists no message to" in page
    answer = admin_client.post(group, {"action": "resend", "chosen": [message.pk], "confirm_duplicates": "on"})
    assert answer.status_code == 302
    run_worker()

    status, by, _ = state(message)
    assert (status, by) == (Status.SENT, "root") and message.provider_message_id in fake_twilio.messages
    again = admin_client.post(group, {"action": "resend", "chosen": [message.pk], "confirm_duplicates": "on"})
    assert again.status_code == 200  # no longer on the page: nothing to tick, nothing resent twice
    assert len([r for r in fake_twilio.received if r.method == "POST"]) == 1
    # The message's own page says who decided, and when.
    page = admin_client.get(reverse("admin:campaigns_outboundmessage_change", args=[message.pk])).content.decode()
    assert "Resent by a person" in page and "root" in page

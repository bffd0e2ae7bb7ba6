"""Staff send, edit, reschedule and cancel single messages through the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import OutboundMessage

Status = OutboundMessage.Status
pytestmark = pytest.mark.django_db(transaction=True)
ADD_URL = "/admin/campaigns/outboundmessage/add/"


def local_parts(when):
    local = timezone.localtime(when)
    return {"send_at_0": local.strftime("%Y-%m-%d"), "send_at_1": local.strftime("%H:%M:%S")}


def test_sending_now_queues_the_message_and_the_worker_sends_it(staff, channel, worker):
    response = staff.post(ADD_URL, {"channel": channel.pk, "to": "447911123456", "body": "Hi"})
    assert response.status_code == 302
    message = OutboundMessage.objects.get()
    assert (message.status, message.to, message.sender_label) == (Status.QUEUED, "+447911123456", "maria")
    worker()
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_a_time_in_the_future_schedules_the_message(staff, channel):
    when = timezone.now() + timedelta(days=1)
    staff.post(ADD_URL, {"channel": channel.pk, "to": "+447911123456", "body": "Hi", **local_parts(when)})
    message = OutboundMessage.objects.get()
    assert message.status == Status.SCHEDULED
    assert abs((message.send_at - when).total_seconds()) < 1


def test_a_scheduled_message_can_be_moved_to_another_time(staff, channel):
    message = OutboundMessage.send_one(
        channel=channel, to="+447911123456", text="Hi", send_at=timezone.now() + timedelta(days=1)
    )
    new_time = timezone.now() + timedelta(days=2)
    response = staff.post(
        f"/admin/campaigns/outboundmessage/{message.pk}/change/",
        {"channel": channel.pk, "to": "+447911123456", "body": "Hi again", **local_parts(new_time)},
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.body == "Hi again"
    assert abs((message.send_at - new_time).total_seconds()) < 1
    assert message.status == Status.SCHEDULED


def test_the_cancel_action_cancels_only_what_has_not_gone(staff, channel, worker):
    sent = OutboundMessage.send_one(channel=channel, to="+447911123456", text="Now")
    worker()
    later = OutboundMessage.send_one(
        channel=channel, to="+447911123457", text="Later", send_at=timezone.now() + timedelta(hours=1)
    )
    staff.post(
        "/admin/campaigns/outboundmessage/",
        {"action": "cancel_messages", "_selected_action": [sent.pk, later.pk], "post": "yes"},
    )
    assert OutboundMessage.objects.get(pk=sent.pk).status == Status.SENT
    assert OutboundMessage.objects.get(pk=later.pk).status == Status.CANCELLED


def test_a_sent_message_is_read_only(staff, channel, worker):
    message = OutboundMessage.send_one(channel=channel, to="+447911123456", text="Now")
    worker()
    page = staff.get(f"/admin/campaigns/outboundmessage/{message.pk}/change/").content.decode()
    assert 'name="body"' not in page
    assert "Now" in page


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"to": "not a number", "body": "Hi"}, "to: &#x27;not a number&#x27; is not a phone number."),
        ({"to": "+447911123456", "body": ""}, "Write a text or attach a media URL."),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(staff, channel, data, error):
    response = staff.post(ADD_URL, {"channel": channel.pk, **data})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_an_opted_out_number_is_refused_in_the_form(staff, channel, make_contact):
    contact = make_contact()
    contact.opt_out_phone(contact.phone, "STOP")
    response = staff.post(ADD_URL, {"channel": channel.pk, "to": contact.phone, "body": "Hi"})
    assert "has opted out" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_the_admin_is_for_staff_only(client, channel):
    client.force_login(get_user_model().objects.create_user("visitor", password="pw-for-tests-only"))
    response = client.get(ADD_URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SCHEDULED])
def test_a_campaign_message_opens_read_only_with_a_link_to_its_campaign(staff, channel, status):
    from campaigns.models import Campaign

    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi {{ phone }}")
    message = OutboundMessage.objects.create(
        campaign=campaign, channel=channel, to="+447911123456", recipient_key="+447911123456", status=status,
        send_at=timezone.now() + timedelta(hours=2) if status == Status.SCHEDULED else None,
    )  # fmt: skip
    url = f"/admin/campaigns/outboundmessage/{message.pk}/change/"

    page = staff.get(url).content.decode()

    assert 'name="_save"' not in page and 'name="body"' not in page and 'name="when"' not in page
    assert f'href="/admin/campaigns/campaign/{campaign.pk}/change/"' in page
    assert "cannot be changed here" in page and "Hi +447911123456" in page
    response = staff.post(url, {"channel": channel.pk, "to": "+447911000000", "body": "Edited", "when": "now"})
    assert response.status_code == 403
    message.refresh_from_db()
    assert (message.to, message.body, message.status) == ("+447911123456", "", status)


def test_nobody_deletes_a_message_in_the_admin_not_even_a_superuser(staff, channel):
    message = OutboundMessage.send_one(channel=channel, to="+447911123456", text="Keep me", enqueue=False)

    delete = staff.post(f"/admin/campaigns/outboundmessage/{message.pk}/delete/", {"post": "yes"})
    listing = staff.get("/admin/campaigns/outboundmessage/").content.decode()
    bulk = staff.post(
        "/admin/campaigns/outboundmessage/",
        {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"},
    )

    assert delete.status_code == 403
    assert "delete_selected" not in listing and "cancel_messages" in listing
    assert bulk.status_code in (200, 302)
    assert OutboundMessage.objects.filter(pk=message.pk).exists()
    page = staff.get(f"/admin/campaigns/outboundmessage/{message.pk}/change/").content.decode()
    assert 'class="deletelink"' not in page

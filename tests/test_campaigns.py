"""Staff campaigns to contact lists: fan-out, sending, opt-outs, pause, resume and cancel."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import Campaign, MessageTemplate, OutboundMessage
from campaigns.pipeline.fanout import fan_out
from campaigns.pipeline.sending import pause_channel
from providers.sandbox import SandboxProvider

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboundMessage.Status


@pytest.fixture
def audience(make_contact, make_list):
    ann = make_contact("+447911123401", "Ann Smith", city="Leeds")
    bob = make_contact("+447911123402", "Bob Jones", city="York")
    cat = make_contact("+447911123403", "Cat Brown", city="Hull")
    gone = make_contact("+447911123404", "Dan Stopped")
    gone.opt_out_phone(gone.phone, "STOP")
    customers = make_list("Customers", [ann, bob, gone])
    newsletter = make_list("Newsletter", [bob, cat])  # Bob is in both lists
    return [customers, newsletter]


@pytest.fixture
def campaign(channel, audience):
    template = MessageTemplate.objects.create(name="Sale", body="Hi {{ first_name }}, the {{ city }} shop opens at 9")
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, template=template)
    campaign.lists.set(audience)
    return campaign


@pytest.fixture
def sent_texts(monkeypatch):
    texts: list[str] = []
    original = SandboxProvider.send_batch

    def record(self, batch):
        texts.extend(m.text for m in batch)
        return original(self, batch)

    monkeypatch.setattr(SandboxProvider, "send_batch", record)
    return texts


def test_a_campaign_sends_once_per_number_skips_opt_outs_and_personalises(campaign, worker, sent_texts):
    assert campaign.problems_before_launch() == []
    assert campaign.launch()

    worker()

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.recipient_count == 4
    by_number = dict(campaign.messages.values_list("to", "status"))
    assert by_number == {
        "+447911123401": Status.SENT,
        "+447911123402": Status.SENT,
        "+447911123403": Status.SENT,
        "+447911123404": Status.CANCELLED,
    }
    assert sorted(sent_texts) == [
        "Hi Ann, the Leeds shop opens at 9",
        "Hi Bob, the York shop opens at 9",
        "Hi Cat, the Hull shop opens at 9",
    ]


def test_fan_out_twice_adds_nothing(campaign):
    campaign.launch()
    fan_out(campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(fanned_out_at=None)  # as if it crashed before finishing
    fan_out(campaign.pk)
    assert campaign.messages.count() == 4


def test_a_scheduled_campaign_waits_for_its_time(campaign, worker):
    assert campaign.launch(at=timezone.now() + timezone.timedelta(hours=1))
    worker()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaign.messages.count() == 0


def test_a_paused_campaign_sends_nothing_more_until_resumed(campaign, worker):
    campaign.launch()
    fan_out(campaign.pk)
    assert campaign.pause("Staff paused it")
    worker()
    assert campaign.messages.filter(status=Status.SENT).count() == 0

    assert campaign.resume()
    worker()
    assert campaign.messages.filter(status=Status.SENT).count() == 3
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_cancelling_a_campaign_cancels_what_has_not_gone(campaign, worker):
    campaign.launch()
    fan_out(campaign.pk)
    assert campaign.cancel("Wrong list")
    worker()
    assert set(campaign.messages.values_list("status", flat=True)) == {Status.CANCELLED}


def test_a_channel_error_pauses_the_channels_running_campaigns_and_resuming_the_channel_resumes_them(
    campaign, channel, worker
):
    campaign.launch()
    fan_out(campaign.pk)
    pause_channel(channel, "Authentication failed (20003).")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert campaign.status_reason.endswith("Authentication failed (20003).")

    channel.paused_at = None
    channel.save()
    assert Campaign.resume_for_channel(channel) == 1
    worker()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED


def test_a_campaign_without_lists_or_text_says_what_is_missing(channel):
    campaign = Campaign.objects.create(name="Empty", channel=channel)
    assert campaign.problems_before_launch() == [
        "It has no text, media or template.",
        "It has no contact list to send to.",
    ]


def test_a_list_larger_than_one_insert_batch_fans_out_whole(channel, make_list):
    from contacts.models import Contact

    contacts = Contact.objects.bulk_create(Contact(phone=f"+1415555{n:04d}", name=f"C{n}") for n in range(2500))
    big = make_list("Big", contacts)
    campaign = Campaign.objects.create(name="Big one", channel=channel, text="Hello {{ name }}")
    campaign.lists.set([big])
    campaign.launch()
    assert fan_out(campaign.pk) == 2500
    assert campaign.messages.filter(status=Status.QUEUED).count() == 2500


def test_staff_create_and_launch_a_campaign_in_the_admin(client, channel, audience, worker):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("lee", "lee@example.com", "pw-for-tests-only"))
    response = client.post(
        "/admin/campaigns/campaign/add/",
        {"name": "Launch day", "channel": channel.pk, "lists": [a.pk for a in audience], "text": "Hi {{ name }}"},
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Launch day")
    assert (campaign.kind, campaign.sender_label) == (Campaign.Kind.CAMPAIGN, "lee")

    client.post("/admin/campaigns/campaign/", {"action": "launch", "_selected_action": [campaign.pk], "post": "yes"})
    worker()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert campaign.messages.filter(status=Status.SENT).count() == 3


def test_the_admin_refuses_to_launch_a_campaign_with_nothing_to_send(client, channel):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("lee", "lee@example.com", "pw-for-tests-only"))
    campaign = Campaign.objects.create(name="Empty", channel=channel)
    response = client.post(
        "/admin/campaigns/campaign/",
        {"action": "launch", "_selected_action": [campaign.pk], "post": "yes"},
        follow=True,
    )
    assert "Empty: not launched. It has no text, media or template." in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_a_running_campaign_whose_jobs_redis_lost_is_picked_up_by_the_reconciler(campaign, worker, settings):
    import django_rq

    from campaigns.pipeline.jobs import reconcile

    campaign.launch()
    fan_out(campaign.pk)
    django_rq.get_connection("default").flushdb()  # the dispatch jobs are gone
    stale = timezone.now() - timezone.timedelta(seconds=settings.QUEUED_STALE_SECONDS + 1)
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=stale)

    assert reconcile()["campaigns_resumed"] == 1
    assert reconcile()["campaigns_resumed"] == 0  # not enqueued again on the next tick
    worker()

    assert campaign.messages.filter(status=Status.SENT).count() == 3
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED

"""The campaign page in the admin: saving schedules, the verbs, the pre-launch panel, the test send,
the progress JSON, delete protection and the changelist's bounded queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import formats, timezone

from campaigns.content import prelaunch
from campaigns.models import Campaign, MessageTemplate, OutboundMessage
from campaigns.models.staff import zone_label
from campaigns.pipeline.fanout import fan_out
from providers.models import Channel

pytestmark = pytest.mark.django_db(transaction=True)
Status = Campaign.Status
ADD = "/admin/campaigns/campaign/add/"


@pytest.fixture
def customers(make_contact, make_list):
    ann = make_contact("+447911123401", "Ann Smith", city="Leeds")
    bob = make_contact("+447911123402", "Bob Jones")
    cat = make_contact("+447911123403", "Cat Brown", city="  ")
    gone = make_contact("+447911123404", "Dan Stopped", city="Hull")
    gone.opt_out_phone(gone.phone, "STOP")
    return make_list("Customers", [ann, bob, cat, gone])


def form_data(channel, lists, **extra) -> dict:
    data = {
        "name": "Spring sale",
        "channel": channel.pk,
        "text": 'Hi {{ first_name }}, the {{ city|default:"town" }} shop opens at 9',
        "lists": [lst.pk for lst in lists],
        "max_lateness": "3600",
    }
    data.update(extra)
    return data


def when(moment) -> dict:
    local = timezone.localtime(moment)
    return {"scheduled_at_0": local.strftime("%Y-%m-%d"), "scheduled_at_1": local.strftime("%H:%M")}


def page_of(client, campaign: Campaign) -> str:
    return client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()


def act(client, campaign: Campaign, verb: str):
    return client.post(f"/admin/campaigns/campaign/{campaign.pk}/act/{verb}/", follow=True)


# --- saving and scheduling ---------------------------------------------------------------------


def test_saving_with_a_time_schedules_it(staff, channel, customers):
    at = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    response = staff.post(ADD, form_data(channel, [customers], **when(at)), follow=True)
    campaign = Campaign.objects.get(name="Spring sale")
    assert (campaign.status, campaign.scheduled_at, campaign.max_lateness) == (Status.SCHEDULED, at, timedelta(hours=1))
    assert "is scheduled for" in response.content.decode()
    assert f"{timezone.localtime(at):%d %b %Y %H:%M} {zone_label()}" in response.content.decode()  # zone named once


def test_saving_without_a_time_keeps_a_draft_and_a_past_time_is_refused(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers]))
    assert Campaign.objects.get().status == Status.DRAFT
    past = timezone.now() - timedelta(hours=1)
    response = staff.post(ADD, form_data(channel, [customers], name="Late", **when(past)))
    assert "has passed; choose a later time" in response.content.decode()
    assert not Campaign.objects.filter(name="Late").exists()


def test_a_time_with_problems_saves_a_draft_and_says_why(staff, channel, make_list, make_contact):
    empty = make_list("Nobody", [])
    at = timezone.now() + timedelta(days=1)
    response = staff.post(ADD, form_data(channel, [empty], **when(at)), follow=True)
    assert Campaign.objects.get().status == Status.DRAFT
    assert "Saved as a draft, not scheduled: Its audience is empty" in response.content.decode()

    campaign = Campaign.objects.get()
    empty.contacts.add(make_contact())
    staff.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", form_data(channel, [empty], **when(at)))
    assert Campaign.objects.get().status == Status.SCHEDULED  # fixed and saved again: now it is scheduled


def test_the_calendar_day_prefills_the_time_in_the_staff_zone(staff):
    day = timezone.localdate() + timedelta(days=3)
    for given in (day.isoformat(), f"{day.isoformat()}T09:00"):
        html = staff.get(f"{ADD}?scheduled_at={given}").content.decode()
        assert f'value="{formats.localize_input(day)}"' in html and 'value="09:00:00"' in html
        assert zone_label() in html
    assert staff.get(f"{ADD}?scheduled_at=not-a-date").status_code == 200


def test_rescheduling_a_scheduled_campaign_from_its_page(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers], **when(timezone.now() + timedelta(days=1))))
    campaign = Campaign.objects.get()
    later = (timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0)
    staff.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", form_data(channel, [customers], **when(later)))
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (Status.SCHEDULED, later)


# --- verbs -----------------------------------------------------------------------------------


def test_the_page_offers_only_the_verbs_that_fit(staff, channel, customers, worker):
    staff.post(ADD, form_data(channel, [customers]))
    campaign = Campaign.objects.get()
    html = page_of(staff, campaign)
    assert 'data-verb="launch"' in html and 'data-verb="pause"' not in html and 'data-verb="resume"' not in html
    assert staff.get(f"/admin/campaigns/campaign/{campaign.pk}/act/launch/").status_code == 405

    assert "does not apply now" in act(staff, campaign, "pause").content.decode()
    act(staff, campaign, "launch")
    fan_out(campaign.pk)
    html = page_of(staff, campaign)
    assert 'data-verb="pause"' in html and 'data-verb="launch"' not in html
    act(staff, campaign, "pause")
    assert Campaign.objects.get(pk=campaign.pk).status == Status.PAUSED
    assert 'data-verb="resume"' in page_of(staff, campaign)
    act(staff, campaign, "resume")
    worker()
    assert Campaign.objects.get(pk=campaign.pk).status == Status.COMPLETED
    html = page_of(staff, campaign)
    assert 'data-verb="archive"' in html and 'data-verb="cancel"' not in html
    act(staff, campaign, "archive")
    assert Campaign.objects.get(pk=campaign.pk).archived_at is not None
    assert "Spring sale" not in staff.get("/admin/campaigns/campaign/").content.decode()
    assert "Spring sale" in staff.get("/admin/campaigns/campaign/?archived=yes").content.decode()


def test_duplicate_opens_the_new_draft(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers]))
    original = Campaign.objects.get()
    response = act(staff, original, "duplicate")
    copy = Campaign.objects.exclude(pk=original.pk).get()
    assert (copy.name, copy.status) == ("Copy of Spring sale", Status.DRAFT)
    assert response.redirect_chain[-1][0] == f"/admin/campaigns/campaign/{copy.pk}/change/"


def test_a_campaign_with_messages_cannot_be_deleted_through_the_admin(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers]))
    campaign = Campaign.objects.get()
    assert staff.get(f"/admin/campaigns/campaign/{campaign.pk}/delete/").status_code == 200  # a draft can go
    act(staff, campaign, "launch")
    fan_out(campaign.pk)
    refusal = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/delete/").content.decode()
    assert "has 4 messages: they are its history" in refusal and "Archive it instead" in refusal
    staff.post(f"/admin/campaigns/campaign/{campaign.pk}/delete/", {"post": "yes"})
    assert Campaign.objects.filter(pk=campaign.pk).exists() and campaign.messages.count() == 4


# --- the pre-launch panel ----------------------------------------------------------------------


def test_the_panel_counts_the_audience_missing_data_segments_and_cost(staff, channel, customers, make_list):
    Channel.objects.filter(pk=channel.pk).update(price_per_segment=Decimal("0.05"))
    staff.post(ADD, form_data(channel, [customers]))
    campaign = Campaign.objects.get()
    report = prelaunch.report(campaign)
    assert (report.audience, report.opted_out, report.excluded) == (3, 1, 0)
    by_name = {p.name: p for p in report.placeholders}
    assert (by_name["first_name"].missing, by_name["city"].missing) == (0, 2)  # Bob has none, Cat's is blank
    assert by_name["city"].fallback == '"town"'
    assert (report.encoding, report.segments_total, report.estimated_cost) == ("GSM-7", 3, Decimal("0.15"))
    assert report.ready

    html = page_of(staff, campaign)
    assert 'data-figure="audience">3<' in html and "Ready to launch" in html
    assert "0.15</span> estimated cost" in html  # no currency given: the amount alone
    Channel.objects.filter(pk=channel.pk).update(currency="EUR")
    assert "0.15 EUR</span> estimated cost" in page_of(staff, campaign)
    assert "at 0.0500 EUR a segment" in page_of(staff, campaign)

    campaign.exclude_lists.set([make_list("Complained", list(customers.contacts.filter(name="Ann Smith")))])
    assert (prelaunch.report(campaign).audience, prelaunch.report(campaign).excluded) == (2, 1)


def test_problems_are_explained_and_block_launch(staff, channel, customers, make_list):
    staff.post(ADD, form_data(channel, [customers], text="Hi {{ nickname }}"))
    campaign = Campaign.objects.get()
    problems = prelaunch.report(campaign).problems
    assert problems == [
        "No recipient has a value for {{ nickname }}: fix the field name, or give it a default such as "
        '{{ nickname|default:"there" }}.'
    ]
    response = act(staff, campaign, "launch")
    assert "Not launched: No recipient has a value for {{ nickname }}" in response.content.decode()
    assert Campaign.objects.get().status == Status.DRAFT


def test_content_the_channel_cannot_carry_is_refused_before_launch(channel, customers):
    whatsapp = Channel.objects.create(name="WA", provider="twlowa", sender="+15005550006")
    campaign = Campaign.objects.create(name="WA text", channel=whatsapp, text="Hello")
    campaign.lists.set([customers])
    assert "approved template" in " ".join(prelaunch.report(campaign).problems)

    sms = Channel.objects.create(name="Gateway", provider="sendbulk", sender="SHOP")
    picture = MessageTemplate.objects.create(name="Pic", body="Look", media_url="https://example.com/a.jpg")
    campaign = Campaign.objects.create(name="Media on SMS", channel=sms, template=picture)
    campaign.lists.set([customers])
    assert "cannot send media" in " ".join(prelaunch.report(campaign).problems)


def test_send_test_goes_through_the_pipeline_rendered(staff, channel, customers, worker):
    staff.post(ADD, form_data(channel, [customers]))
    campaign = Campaign.objects.get()
    response = staff.post(f"/admin/campaigns/campaign/{campaign.pk}/send-test/", {"to": "+447911123401"}, follow=True)
    assert "is on its way" in response.content.decode()
    worker()
    test = OutboundMessage.objects.get(campaign__isnull=True)
    assert (test.to, test.body, test.status) == ("+447911123401", "Hi Ann, the Leeds shop opens at 9", "sent")
    bad = staff.post(f"/admin/campaigns/campaign/{campaign.pk}/send-test/", {"to": "12"}, follow=True)
    assert "Test not sent: to:" in bad.content.decode()


# --- progress ----------------------------------------------------------------------------------


def test_progress_json_counts_by_state_and_groups_failures(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers]))
    campaign = Campaign.objects.get()
    act(staff, campaign, "launch")
    fan_out(campaign.pk)
    ann, bob, _cat = campaign.messages.filter(status="queued").order_by("to")
    OutboundMessage.objects.filter(pk=ann.pk).update(status="delivered")
    OutboundMessage.objects.filter(pk=bob.pk).update(
        status="failed", error_code="21211", error_message="Invalid number"
    )

    data = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()

    assert data["parts"] == {
        "queued": 1, "waiting": 0, "winner": 0, "sent": 0, "delivered": 1, "failed": 1, "unknown": 0,
        "cancelled": 1,
    }  # fmt: skip
    assert (data["waiting"], data["delivery_text"]) == (0, "50%")
    assert (data["total"], data["done"], data["status"], data["delivery_rate"]) == (4, 3, "running", 0.5)
    assert data["failures"] == [{"status": "failed", "code": "21211", "reason": "Invalid number", "count": 1}]
    assert data["messages_url"].endswith(f"?campaign__id__exact={campaign.pk}")
    assert data["channel_limit_per_second"] == channel.rate_limit
    OutboundMessage.send_one(channel=channel, to="+15005550199", text="Not of this campaign", enqueue=False)
    log = staff.get(data["messages_url"]).content.decode()
    assert "+447911123401" in log and "+447911123402" in log and "+15005550199" not in log


def test_the_list_shows_progress_with_one_grouped_query(staff, channel, customers, django_assert_max_num_queries):
    def make(n: int) -> None:
        for i in range(n):
            campaign = Campaign.objects.create(name=f"C{Campaign.objects.count()}-{i}", channel=channel, text="Hi")
            campaign.lists.set([customers])
            campaign.launch()
            fan_out(campaign.pk)

    make(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert "mini-bar" in staff.get("/admin/campaigns/campaign/").content.decode()
    make(8)
    with django_assert_max_num_queries(len(few)):
        staff.get("/admin/campaigns/campaign/")


def test_a_draft_whose_time_has_passed_cannot_launch_at_it(channel, customers):
    campaign = Campaign.objects.create(
        name="Missed", channel=channel, text="Hi", scheduled_at=timezone.now() - timedelta(minutes=5)
    )
    campaign.lists.set([customers])
    assert prelaunch.report(campaign, at=campaign.scheduled_at).problems == [
        "Its scheduled time has passed: choose a later time, or launch it now."
    ]


def test_a_held_campaign_says_why_and_offers_launch_now(staff, channel, customers):
    staff.post(ADD, form_data(channel, [customers], **when(timezone.now() + timedelta(days=1))))
    campaign = Campaign.objects.get()
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(hours=3))
    from campaigns.pipeline.fanout import start_due_campaigns

    start_due_campaigns()
    html = page_of(staff, campaign)
    assert "Waiting for you: it could not start within 1 hour" in html and 'data-verb="launch"' in html
    act(staff, campaign, "launch")
    campaign.refresh_from_db()
    assert (campaign.status_reason, campaign.scheduled_at <= timezone.now()) == ("", True)


def test_the_delivery_rate_waits_for_something_sent_and_then_for_receipts(staff, channel, customers):
    from campaigns.reports import progress

    campaign = Campaign.objects.create(name="Receipts", channel=channel, text="Hi")
    campaign.lists.set([customers])
    campaign.launch()
    fan_out(campaign.pk)
    ann, bob, cat = campaign.messages.filter(status="queued").order_by("to")

    def shown() -> tuple[str, str, str]:
        row = staff.get("/admin/campaigns/campaign/").content.decode()
        cell = row.split('class="field-delivery">', 1)[1].split("</td>", 1)[0]
        data = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").json()
        page = page_of(staff, campaign).split('data-field="delivery">', 1)[1].split("<", 1)[0]
        return cell, data["delivery_text"], page

    assert shown() == ("—", "—", "—")  # nothing sent yet
    OutboundMessage.objects.filter(pk__in=[ann.pk, bob.pk]).update(status="sent")
    assert shown() == ("awaiting receipts",) * 3  # not "0%": no receipt could have come yet
    OutboundMessage.objects.filter(pk=ann.pk).update(status="delivered")
    assert shown() == ("50%",) * 3
    OutboundMessage.objects.filter(pk=ann.pk).update(status="undelivered")
    OutboundMessage.objects.filter(pk=cat.pk).update(status="failed")
    assert shown() == ("awaiting receipts",) * 3  # Bob's receipt may still come
    assert progress.delivery_text(progress.bar({"failed": 3})) == "0%"  # nothing went: a true zero

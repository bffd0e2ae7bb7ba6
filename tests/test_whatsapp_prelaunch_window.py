"""The 24-hour window on the campaign page: the pre-launch panel counts the recipients outside it and
blocks free-form WhatsApp for them (one query, however large the audience), and the Launch button is
hidden while anything blocks the campaign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.content import prelaunch
from campaigns.models import Campaign, Conversation
from providers.fakes.templates import TWILIO_ORDER_UPDATE
from providers.models import Channel

pytestmark = pytest.mark.django_db


def wrote(channel: Channel, number: str, hours_ago: float) -> None:
    at = timezone.now() - timedelta(hours=hours_ago)
    Conversation.objects.create(channel=channel, phone=number, last_message_at=at, last_inbound_at=at)


@pytest.fixture
def whatsapp(db) -> Channel:
    return Channel.objects.create(name="Shop WhatsApp", provider="twlowa", sender="+15005550006")


@pytest.fixture
def audience(make_contact, make_list):
    people = [make_contact(f"+44791112340{n}", f"Person {n}") for n in range(1, 6)]
    people[4].opt_out_phone(people[4].phone, "STOP")  # not a recipient: not counted either way
    return people, make_list("Customers", people)


def campaign_of(channel: Channel, contact_list, **fields) -> Campaign:
    campaign = Campaign.objects.create(name=f"C{Campaign.objects.count()}", channel=channel, **fields)
    campaign.lists.add(contact_list)
    return campaign


def test_the_panel_counts_recipients_outside_the_window_and_blocks_free_text(whatsapp, audience):
    people, customers = audience
    wrote(whatsapp, people[0].phone, hours_ago=2)
    wrote(whatsapp, people[1].phone, hours_ago=23.9)
    wrote(whatsapp, people[2].phone, hours_ago=25)  # too long ago
    other = Channel.objects.create(name="Other WhatsApp", provider="twlowa", sender="+15005550007")
    wrote(other, people[3].phone, hours_ago=1)  # wrote, but to another channel
    wrote(whatsapp, people[4].phone, hours_ago=1)  # opted out: no recipient
    report = prelaunch.report(campaign_of(whatsapp, customers, text="Your order is ready"))
    assert (report.people, report.window_open, report.window_closed) == (4, 2, 2)
    [problem] = report.problems
    assert problem.startswith("2 of its 4 recipients have not written to 'Shop WhatsApp' in the last 24 hours")
    assert "Choose an approved WhatsApp template" in problem


def test_free_text_may_go_when_every_recipient_wrote_within_24_hours(whatsapp, audience):
    people, customers = audience
    for person in people[:4]:
        wrote(whatsapp, person.phone, hours_ago=3)
    report = prelaunch.report(campaign_of(whatsapp, customers, text="Your order is ready"))
    assert (report.window_open, report.window_closed, report.problems) == (4, 0, [])


def test_a_template_or_an_sms_channel_is_not_counted(whatsapp, audience, channel):
    _, customers = audience
    template = {"id": TWILIO_ORDER_UPDATE, "variables": {"1": "{{ name }}", "2": "A-1"}}
    assert prelaunch.report(campaign_of(whatsapp, customers, provider_template=template)).window_closed is None
    assert prelaunch.report(campaign_of(channel, customers, text="Hello")).window_closed is None


def test_the_count_is_one_query_however_many_recipients(whatsapp, make_list, django_assert_num_queries):
    from contacts.models import Contact

    Contact.objects.bulk_create(Contact(phone=f"+4479111{n:05d}", name="") for n in range(3000))
    customers = make_list("Many", list(Contact.objects.all()))
    for contact in Contact.objects.all()[:40]:
        wrote(whatsapp, contact.phone, hours_ago=1)
    campaign = campaign_of(whatsapp, customers, text="Hello")
    result = prelaunch.Report(people=3000)
    with django_assert_num_queries(1):
        prelaunch.count_window(campaign, result)
    assert (result.window_open, result.window_closed) == (40, 2960)


def test_the_page_shows_the_figure_and_hides_launch_while_blocked(staff, whatsapp, audience):
    people, customers = audience
    wrote(whatsapp, people[0].phone, hours_ago=2)
    campaign = campaign_of(whatsapp, customers, text="Your order is ready")
    html = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'data-figure="window-closed">3</span> outside WhatsApp' in html
    assert "1 of 4 wrote to Shop WhatsApp within the last 24 hours" in html
    assert 'data-verb="launch"' not in html and "Cannot launch yet" in html
    for person in people[1:4]:
        wrote(whatsapp, person.phone, hours_ago=2)
    html = staff.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'data-figure="window-closed">0</span>' in html and 'data-verb="launch"' in html

"""A list or template a campaign still needs cannot be deleted: the page names the campaigns.

Deleting an exclusion list used to send the campaign to the people it left out, and deleting a
campaign's only list made it "complete" with 0 recipients and no reason; the delete page said
only "Campaign-contactlist relationships: 1". A finished campaign needs its lists no more.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, ChannelKeywords, JoinKeyword, MessageTemplate
from campaigns.pipeline.fanout import fan_out
from contacts.models import Consent, Contact, ContactList, Suppression

pytestmark = pytest.mark.django_db

Status = Campaign.Status
LIST_DELETE = "admin:contacts_contactlist_delete"
LISTS = reverse("admin:contacts_contactlist_changelist")


@pytest.fixture
def customers(make_contact, make_list) -> ContactList:
    return make_list("Customers", [make_contact("+447911123456", "Ann"), make_contact("+447911123457", "Bob")])


@pytest.fixture
def unsubscribed(customers, make_list) -> ContactList:
    return make_list("Said no by phone", list(customers.contacts.filter(name="Bob")))


def campaign(channel, name: str, status: str = Status.SCHEDULED, lists=(), leave_out=(), **fields) -> Campaign:
    at = timezone.now() + timedelta(days=1) if status == Status.SCHEDULED else None
    made = Campaign.objects.create(name=name, channel=channel, text="Hi", status=status, scheduled_at=at, **fields)
    made.lists.add(*lists)
    made.exclude_lists.add(*leave_out)
    return made


def bulk_delete(client, lists: list[ContactList], confirm: bool) -> str:
    data = {"action": "delete_selected", "_selected_action": [lst.pk for lst in lists]}
    data.update({"post": "yes"} if confirm else {"index": "0"})
    return client.post(LISTS, data, follow=True).content.decode()


def test_an_exclusion_list_of_a_scheduled_campaign_cannot_be_deleted(staff, channel, customers, unsubscribed):
    campaign(channel, "Spring sale", lists=[customers], leave_out=[unsubscribed])
    page = staff.get(reverse(LIST_DELETE, args=[unsubscribed.pk])).content.decode()
    assert "Cannot delete contact list" in page
    assert "“Spring sale” (scheduled, leaves out its contacts)" in page
    assert "would change who they send to" in page
    staff.post(reverse(LIST_DELETE, args=[unsubscribed.pk]), {"post": "yes"})
    assert ContactList.objects.filter(pk=unsubscribed.pk).exists()


def test_the_only_list_of_a_draft_or_paused_campaign_cannot_be_deleted(staff, channel, customers):
    campaign(channel, "Idea", status=Status.DRAFT, lists=[customers])
    campaign(channel, "Halfway", status=Status.PAUSED, lists=[customers])
    page = staff.get(reverse(LIST_DELETE, args=[customers.pk])).content.decode()
    assert "“Idea” (draft, sends to it)" in page and "“Halfway” (paused, sends to it)" in page
    assert 'name="post"' not in page


def test_many_campaigns_are_named_a_few_then_counted(staff, channel, customers):
    for n in range(8):
        campaign(channel, f"Weekly {n}", lists=[customers])
    page = staff.get(reverse(LIST_DELETE, args=[customers.pk])).content.decode()
    assert page.count("(scheduled, sends to it)") == 5 and "and 3 more" in page


def test_delete_selected_refuses_lists_in_use_and_deletes_none_of_the_selection(
    staff, channel, customers, unsubscribed, make_list
):
    campaign(channel, "Spring sale", lists=[customers])
    spare = make_list("Old import", [])
    page = bulk_delete(staff, [customers, spare], confirm=False)
    assert "Cannot delete these contact lists" in page
    assert "The list “Customers” is used by campaigns that have not finished: “Spring sale” (scheduled" in page
    bulk_delete(staff, [customers, spare], confirm=True)
    assert ContactList.objects.filter(pk__in=[customers.pk, spare.pk]).count() == 2  # nothing half-done
    bulk_delete(staff, [spare], confirm=True)
    assert not ContactList.objects.filter(pk=spare.pk).exists()


def test_a_list_only_finished_campaigns_used_is_deleted_and_their_pages_still_work(
    staff, channel, customers, unsubscribed
):
    sale = campaign(channel, "Spring sale", status=Status.DRAFT, lists=[customers], leave_out=[unsubscribed])
    sale.launch()
    fan_out(sale.pk)
    Campaign.objects.filter(pk=sale.pk).update(status=Status.COMPLETED, finished_at=timezone.now())
    cancelled = campaign(channel, "Called off", status=Status.CANCELLED, lists=[customers])

    page = staff.get(reverse(LIST_DELETE, args=[customers.pk])).content.decode()
    assert "Campaigns that have it in “lists”: 2 (they stay, it is taken out of them)" in page
    assert "Contacts in it: 2 (they stay, taken out of it)" in page
    staff.post(reverse(LIST_DELETE, args=[customers.pk]), {"post": "yes"})
    staff.post(reverse(LIST_DELETE, args=[unsubscribed.pk]), {"post": "yes"})

    assert not ContactList.objects.exists()
    for finished in (sale, cancelled):
        response = staff.get(reverse("admin:campaigns_campaign_change", args=[finished.pk]))
        assert response.status_code == 200
    assert sale.messages.count() == 1  # Ann; Bob was left out, and stays a past message's recipient no more


def test_a_template_a_scheduled_campaign_uses_cannot_be_deleted_and_names_it(staff, channel):
    welcome = MessageTemplate.objects.create(name="Welcome", body="Hi {{ name }}")
    campaign(channel, "Spring sale", template=welcome)
    campaign(channel, "Last year", status=Status.COMPLETED, template=welcome)
    url = reverse("admin:campaigns_messagetemplate_delete", args=[welcome.pk])
    page = staff.get(url).content.decode()
    assert "The template “Welcome” is used by campaigns: “Last year” (completed) and “Spring sale” (scheduled)" in page
    staff.post(url, {"post": "yes"})
    data = {"action": "delete_selected", "_selected_action": [welcome.pk], "post": "yes"}
    staff.post(reverse("admin:campaigns_messagetemplate_changelist"), data)
    assert MessageTemplate.objects.filter(pk=welcome.pk).exists()


def test_a_list_a_join_keyword_adds_to_cannot_be_deleted_and_consents_outlive_a_list(
    staff, channel, customers, make_list
):
    """Deleting a list took its join keywords with it, silently: texts of the word became ordinary
    replies, with no consent recorded and no answer. The page names the keyword instead. Consent
    records and opt-outs never go with a list: a deleted list's consents keep its name."""
    keywords = ChannelKeywords.defaults_for(channel)
    keywords.save()
    JoinKeyword.objects.create(keywords=keywords, word="JOIN", contact_list=customers, reply="Welcome!")
    ann = customers.contacts.get(name="Ann")
    Consent.objects.create(
        number=ann.phone, contact=ann, contact_list=customers, list_name="Customers", channel=channel.name,
        keyword="JOIN", message_id=1, texted_at=timezone.now(), state=Consent.State.JOINED,
    )  # fmt: skip
    Contact.opt_out_phone("+447911123457", "Replied STOP", source=Suppression.Source.REPLY, channel=channel.name)

    page = staff.get(reverse(LIST_DELETE, args=[customers.pk])).content.decode()
    assert "Cannot delete contact list" in page
    assert f"The list “Customers” is where the join keyword JOIN on “{channel.name}” adds who texts it" in page
    assert 'name="post"' not in page
    staff.post(reverse(LIST_DELETE, args=[customers.pk]), {"post": "yes"})
    assert bulk_delete(staff, [customers], confirm=True) and ContactList.objects.filter(pk=customers.pk).exists()
    assert JoinKeyword.objects.filter(word="JOIN", contact_list=customers).exists()

    JoinKeyword.objects.filter(word="JOIN").update(contact_list=make_list("Newsletter", []))  # moved on
    staff.post(reverse(LIST_DELETE, args=[customers.pk]), {"post": "yes"})
    assert not ContactList.objects.filter(pk=customers.pk).exists()
    consent = Consent.objects.get()
    assert (consent.number, consent.list_name, consent.contact_list) == (ann.phone, "Customers", None)
    assert Suppression.objects.filter(number="+447911123457").exists()
    assert Contact.objects.filter(phone__in=["+447911123456", "+447911123457"]).count() == 2

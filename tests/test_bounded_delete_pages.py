"""Delete and change pages stay small whatever the size of what hangs off the object.

Django's own delete page loaded every related row (each message with its bulk job, each copy with
the job's 10,000 inline recipients): +191 MB at 2,000 messages, a killed server at 10,000. These
pages now count instead (contacts/admin/deletion.py), refuse where history would be lost, and the
"Delete selected" action deletes in chunks. Peak memory is measured with tracemalloc around the
request, and queries are capped so that nothing runs one query per row.
"""

from __future__ import annotations

import re
import tracemalloc

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import ApiKey, BulkJob, Campaign, MessageTemplate, OutboundMessage
from contacts.models import Contact, ContactList, ListMembership
from providers.models import Channel

pytestmark = pytest.mark.django_db

MANY = 10_000  # the API's largest bulk job
PEAK_MB = 100
MAX_QUERIES = 60  # a page of one object; one query per related row would be thousands

Status = Campaign.Status


def measured(client, url: str, data: dict | None = None):
    """(response, peak MB, queries) for one GET, or POST when ``data`` is given."""
    tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client.post(url, data) if data is not None else client.get(url)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return response, peak, len(queries)


def assert_small(client, url: str, data: dict | None = None, status: int = 200) -> str:
    response, peak, queries = measured(client, url, data)
    assert response.status_code == status, response.content.decode()[-3000:]
    assert peak < PEAK_MB, f"{url}: peak {peak:.0f} MB"
    assert queries < MAX_QUERIES, f"{url}: {queries} queries"
    return response.content.decode()


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1415{n:07d}" for n in range(start, start + count)]


def with_messages(campaign: Campaign, to: list[str], contacts: list[Contact] | None = None) -> Campaign:
    """Messages built the fast way (one INSERT per 2,000), finished as a delivered campaign's are."""
    contacts = contacts or [None] * len(to)
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                campaign=campaign,
                channel=campaign.channel,
                contact=contact,
                to=phone,
                recipient_key=phone,
                body="Hi",
                status=OutboundMessage.Status.DELIVERED,
            )
            for phone, contact in zip(to, contacts, strict=True)
        ],
        batch_size=2000,
    )
    return campaign


@pytest.fixture
def big_bulk_job(channel) -> Campaign:
    """A finished 10,000-recipient API job: each recipient in inline_recipients and one message each."""
    to = numbers(MANY)
    job = Campaign.objects.create(
        name="API bulk job, 10,000 recipients",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        text="Hi {{ name }}",
        inline_recipients=[{"to": phone, "name": f"Person {n}", "city": "Springfield"} for n, phone in enumerate(to)],
        status=Status.COMPLETED,
        recipient_count=MANY,
        sender_label="API",
    )
    return with_messages(job, to)


@pytest.fixture
def many_contacts(db) -> list[Contact]:
    Contact.objects.bulk_create([Contact(phone=phone, name=f"Person {n}") for n, phone in enumerate(numbers(MANY))])
    return list(Contact.objects.order_by("pk"))


@pytest.fixture
def big_list(many_contacts) -> ContactList:
    contact_list = ContactList.objects.create(name="Everyone")
    ListMembership.objects.bulk_create(
        [ListMembership(contact_list=contact_list, contact=contact) for contact in many_contacts], batch_size=2000
    )
    return contact_list


def admin_url(model, name: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def delete_selected(model, pks: list[int], confirm: bool = False, select_across: bool = False, query=""):
    data = {"action": "delete_selected", "_selected_action": pks, "select_across": "1" if select_across else "0"}
    if confirm:
        data["post"] = "yes"
    else:
        data["index"] = "0"  # as the changelist's own form posts it
    return admin_url(model, "changelist") + query, data


# --- bulk jobs ----------------------------------------------------------------------------------


def test_the_delete_page_of_a_10000_message_bulk_job_stays_small_and_refuses(staff, big_bulk_job):
    page = assert_small(staff, f"/admin/campaigns/bulkjob/{big_bulk_job.pk}/delete/")
    assert "Cannot delete bulk job" in page
    assert "has 10,000 messages: it is their record" in page
    assert 'name="post"' not in page  # no button to press


def test_confirming_the_deletion_of_a_bulk_job_with_messages_deletes_nothing(staff, big_bulk_job):
    assert_small(staff, f"/admin/campaigns/bulkjob/{big_bulk_job.pk}/delete/", {"post": "yes"})
    assert Campaign.objects.filter(pk=big_bulk_job.pk).exists()
    assert big_bulk_job.messages.count() == MANY


def test_the_change_page_of_a_10000_message_bulk_job_stays_small(staff, big_bulk_job):
    page = assert_small(staff, f"/admin/campaigns/bulkjob/{big_bulk_job.pk}/change/")
    assert "delivered: 10,000" in page


def test_delete_selected_bulk_jobs_stays_small_and_refuses(staff, big_bulk_job, channel):
    empty = Campaign.objects.create(name="Nothing sent", kind=Campaign.Kind.BULK_API, channel=channel)
    url, data = delete_selected(BulkJob, [big_bulk_job.pk, empty.pk])
    page = assert_small(staff, url, data)
    assert "Cannot delete these bulk jobs" in page
    assert "“API bulk job, 10,000 recipients” has 10,000 messages" in page
    url, data = delete_selected(BulkJob, [big_bulk_job.pk, empty.pk], confirm=True)
    assert_small(staff, url, data)
    assert Campaign.objects.filter(pk__in=[big_bulk_job.pk, empty.pk]).count() == 2  # nothing half-done


def test_a_bulk_job_without_messages_can_be_deleted_with_nothing_else_touched(staff, channel):
    job = Campaign.objects.create(name="Cancelled early", kind=Campaign.Kind.BULK_API, channel=channel)
    page = assert_small(staff, f"/admin/campaigns/bulkjob/{job.pk}/delete/")
    assert "Delete the bulk job “Cancelled early”?" in page
    staff.post(f"/admin/campaigns/bulkjob/{job.pk}/delete/", {"post": "yes"})
    assert not Campaign.objects.filter(pk=job.pk).exists()


# --- campaigns ----------------------------------------------------------------------------------


@pytest.fixture
def big_campaign(channel, big_list, many_contacts) -> Campaign:
    campaign = Campaign.objects.create(name="Spring sale", channel=channel, text="Hi", status=Status.COMPLETED)
    campaign.lists.add(big_list)
    return with_messages(campaign, [c.phone for c in many_contacts], many_contacts)


def test_a_campaign_with_10000_messages_shows_why_it_stays_on_small_pages(staff, big_campaign):
    page = assert_small(staff, admin_url(Campaign, "delete", big_campaign.pk))
    assert "The campaign “Spring sale” has 10,000 messages" in page and "Archive it instead" in page
    assert_small(staff, admin_url(Campaign, "delete", big_campaign.pk), {"post": "yes"})
    assert Campaign.objects.filter(pk=big_campaign.pk).exists()
    assert_small(staff, admin_url(Campaign, "change", big_campaign.pk))
    url, data = delete_selected(Campaign, [big_campaign.pk])
    assert "has 10,000 messages" in assert_small(staff, url, data)


def test_a_draft_campaign_is_deleted_and_its_lists_stay(staff, channel, big_list):
    draft = Campaign.objects.create(name="Idea", channel=channel, text="Hi")
    draft.lists.add(big_list)
    page = assert_small(staff, admin_url(Campaign, "delete", draft.pk))
    assert "Contact lists in its “lists”: 1 (they stay, taken out of it)" in page
    staff.post(admin_url(Campaign, "delete", draft.pk), {"post": "yes"})
    assert not Campaign.objects.filter(pk=draft.pk).exists()
    big_list.refresh_from_db()
    assert big_list.member_count == MANY


# --- channels -----------------------------------------------------------------------------------


def test_a_channel_with_10000_messages_cannot_be_deleted_and_its_pages_stay_small(staff, big_bulk_job, channel):
    page = assert_small(staff, admin_url(channel, "delete", channel.pk))
    assert "The channel “Sandbox” has 10,000 messages and 1 campaigns and bulk jobs" in page
    assert "Switch it off instead" in page
    assert_small(staff, admin_url(channel, "delete", channel.pk), {"post": "yes"})
    assert OutboundMessage.objects.filter(channel=channel).count() == MANY
    assert_small(staff, admin_url(channel, "change", channel.pk))
    url, data = delete_selected(channel, [channel.pk])
    assert "Switch it off instead" in assert_small(staff, url, data)


# --- contact lists ------------------------------------------------------------------------------


def test_a_list_of_10000_contacts_is_deleted_from_small_pages_and_its_contacts_stay(staff, big_list):
    assert_small(staff, admin_url(ContactList, "change", big_list.pk))
    page = assert_small(staff, admin_url(ContactList, "delete", big_list.pk))
    assert "Contacts in it: 10,000 (they stay, taken out of it)" in page
    assert_small(staff, admin_url(ContactList, "delete", big_list.pk), {"post": "yes"}, status=302)
    assert not ContactList.objects.filter(pk=big_list.pk).exists()
    assert Contact.objects.count() == MANY and not ListMembership.objects.exists()


# --- contacts -----------------------------------------------------------------------------------


@pytest.fixture
def busy_contact(channel, many_contacts) -> Contact:
    """One contact sent 10,000 messages (a campaign each) and a member of 300 lists."""
    contact = many_contacts[0]
    campaign = Campaign.objects.create(name="Daily", channel=channel, status=Status.COMPLETED)
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(campaign=campaign, channel=channel, contact=contact, to=contact.phone, recipient_key=str(n))
            for n in range(MANY)
        ],
        batch_size=2000,
    )
    lists = ContactList.objects.bulk_create([ContactList(name=f"List {n}") for n in range(300)])
    ListMembership.objects.bulk_create([ListMembership(contact_list=lst, contact=contact) for lst in lists])
    return contact


def test_a_contact_with_10000_messages_is_deleted_from_small_pages_and_the_messages_stay(staff, busy_contact):
    assert_small(staff, admin_url(Contact, "change", busy_contact.pk))
    page = assert_small(staff, admin_url(Contact, "delete", busy_contact.pk))
    assert "Outbound messages: 10,000 (kept, no longer linked to it)" in page
    assert "Contact lists that have it in “contacts”: 300 (they stay, it is taken out of them)" in page
    assert_small(staff, admin_url(Contact, "delete", busy_contact.pk), {"post": "yes"}, status=302)
    assert not Contact.objects.filter(pk=busy_contact.pk).exists()
    assert OutboundMessage.objects.filter(to=busy_contact.phone, contact=None).count() == MANY


def test_delete_selected_keeps_select_all_as_a_selection_and_deletes_in_chunks(staff, big_list, many_contacts):
    shown = [c.pk for c in many_contacts[:100]]  # the ticked page
    url, data = delete_selected(Contact, shown, select_across=True, query=f"?list={big_list.pk}")
    page = assert_small(staff, url, data)
    assert "<strong>10,000 contacts</strong>" in page and "and 9,995 more" in page
    assert "Contact lists that have it in “contacts”: 10,000" in page
    assert len(re.findall(r'name="_selected_action"', page)) == len(shown)  # not 10,000 hidden ids
    assert 'name="select_across" value="1"' in page
    url, data = delete_selected(Contact, shown, confirm=True, select_across=True, query=f"?list={big_list.pk}")
    response, peak, _ = measured(staff, url, data)
    assert response.status_code == 302 and peak < PEAK_MB, f"peak {peak:.0f} MB"
    assert not Contact.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == MANY  # each one in the admin's history


def test_a_template_nobody_uses_is_deleted_after_a_page_that_says_nothing_else_changes(staff):
    template = MessageTemplate.objects.create(name="Unused", body="Hi")
    page = assert_small(staff, admin_url(MessageTemplate, "delete", template.pk))
    assert "Nothing else: nothing refers to it." in page
    staff.post(admin_url(MessageTemplate, "delete", template.pk), {"post": "yes"})
    assert not MessageTemplate.objects.exists()


def test_the_only_channel_an_api_key_may_send_on_cannot_be_deleted(staff, administrator, channel):
    shop, _ = ApiKey.issue(administrator, name="shop", every_channel=False)
    shop.channels.add(channel)
    spare = Channel.objects.create(name="Spare", provider="sandbox", sender="+15005550007")
    wide, _ = ApiKey.issue(administrator, name="wide", every_channel=False)
    wide.channels.add(channel, spare)
    page = assert_small(staff, admin_url(channel, "delete", channel.pk))
    assert "API keys may send only on it: “shop”" in page and "“wide”" not in page
    assert "could send on no channel" in page
    staff.post(admin_url(channel, "delete", channel.pk), {"post": "yes"})
    assert Channel.objects.filter(pk=channel.pk).exists()
    shop.revoked_at = timezone.now()
    shop.save()
    assert_small(staff, admin_url(channel, "delete", channel.pk), {"post": "yes"}, status=302)
    assert list(wide.channels.all()) == [spare]


def test_the_delete_page_of_a_user_with_10000_admin_log_entries_stays_small(staff):
    colleague = get_user_model().objects.create_user("sam", is_staff=True)
    LogEntry.objects.bulk_create(
        [LogEntry(user=colleague, action_flag=DELETION, object_repr=f"Person {n}") for n in range(MANY)]
    )
    page = assert_small(staff, admin_url(colleague, "delete", colleague.pk))
    assert "Log entries: 10,000 (deleted with it)" in page
    assert_small(staff, admin_url(colleague, "delete", colleague.pk), {"post": "yes"}, status=302)
    assert not LogEntry.objects.filter(user_id=colleague.pk).exists()

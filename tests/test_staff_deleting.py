"""A marketing person tries to delete a list a scheduled campaign needs, then deletes one it no
longer needs, and opens the delete page of a big finished bulk job.

Real Chromium against the live server; screenshots go to SCREENSHOTS_DIR/deleting/ when it is set.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, OutboundMessage
from contacts.models import Contact, ContactList
from tests import browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = Campaign.Status


def shot(page, name: str) -> None:
    browser.shot(page, f"deleting/{name}")


@pytest.fixture
def logged_in(page, live_server, marketing_staff):
    browser.log_in(page, live_server, "mia", "/admin/contacts/contactlist/")
    return page


@pytest.fixture
def lists(channel) -> tuple[ContactList, ContactList]:
    """'Said no by phone' is left out of a scheduled campaign; 'Black Friday 2025' was used by a finished one."""
    Contact.objects.bulk_create(Contact(phone=f"+4479111{n:05d}", name=f"Ann {n}") for n in range(40))
    said_no = ContactList.objects.create(name="Said no by phone")
    said_no.contacts.add(*Contact.objects.all()[:3])
    old = ContactList.objects.create(name="Black Friday 2025")
    old.contacts.add(*Contact.objects.all())
    spring = Campaign.objects.create(
        name="Spring sale",
        channel=channel,
        text="Hi",
        status=Status.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(days=2),
    )
    spring.lists.add(old)
    spring.exclude_lists.add(said_no)
    Campaign.objects.create(name="Newsletter draft", channel=channel, text="Hi").exclude_lists.add(said_no)
    finished = Campaign.objects.create(name="Black Friday", channel=channel, text="Hi", status=Status.COMPLETED)
    finished.lists.add(old)
    spring.lists.remove(old)
    return said_no, old


def test_a_list_a_scheduled_campaign_leaves_out_is_kept_and_an_old_one_goes(logged_in, live_server, lists):
    page = logged_in
    said_no, old = lists
    page.reload()  # the lists were made after signing in
    page.click("text=Said no by phone")
    page.click("a.deletelink")
    page.wait_for_selector("#deletion-refusals")
    shot(page, "list-in-use")
    refusal = page.inner_text("#content")
    assert "“Spring sale” (scheduled, leaves out its contacts)" in refusal
    assert "“Newsletter draft” (draft, leaves out its contacts)" in refusal
    assert page.locator("input[type=submit]").count() == 0
    page.click("text=Back to “Said no by phone”")

    page.goto(f"{live_server.url}/admin/contacts/contactlist/{old.pk}/delete/")
    summary = page.inner_text("#deleted-objects")
    assert "Contacts in it: 40 (they stay, taken out of it)" in summary
    assert "Campaigns that have it in “lists”: 1" in summary
    shot(page, "list-finished-with")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert not ContactList.objects.filter(pk=old.pk).exists()
    assert ContactList.objects.filter(pk=said_no.pk).exists()

    page.goto(f"{live_server.url}/admin/contacts/contactlist/")
    page.check(f"input[name=_selected_action][value='{said_no.pk}']")
    page.select_option("select[name=action]", "delete_selected")
    page.click("button[name=index]")
    page.wait_for_selector("#deletion-refusals")
    shot(page, "delete-selected-in-use")
    assert "Said no by phone" in page.inner_text("#deletion-refusals")


def test_the_delete_page_of_a_big_finished_bulk_job_says_why_it_stays(page, live_server, administrator, channel):
    to = [f"+1415{n:07d}" for n in range(3000)]
    job = Campaign.objects.create(
        name="API bulk job, 3,000 recipients",
        kind=Campaign.Kind.BULK_API,
        channel=channel,
        inline_recipients=[{"to": phone, "name": "Pat"} for phone in to],
        status=Status.COMPLETED,
    )
    OutboundMessage.objects.bulk_create(
        OutboundMessage(campaign=job, channel=channel, to=phone, recipient_key=phone, status="delivered")
        for phone in to
    )
    browser.log_in(page, live_server, "maria", f"/admin/campaigns/bulkjob/{job.pk}/delete/")
    page.wait_for_selector("#deletion-refusals")
    shot(page, "bulk-job")
    assert "has 3,000 messages: it is their record" in page.inner_text("#deletion-refusals")

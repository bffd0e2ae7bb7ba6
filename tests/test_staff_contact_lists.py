"""A staff member filters contacts, adds all matching to a new list, exports them, and opts one back in.

Real Chromium against the live server; screenshots of every screen go to
SCREENSHOTS_DIR/contact-lists/ when SCREENSHOTS_DIR is set.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from campaigns.models import Campaign
from contacts.models import Contact, ContactList, OptInRecord
from tests import browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    browser.shot(page, f"contact-lists/{name}", full_page=False)


@pytest.fixture
def logged_in(page, live_server, administrator):
    browser.log_in(page, live_server, "maria", "/admin/contacts/contact/")
    page.wait_for_selector("#changelist")
    return page


def people() -> None:
    Contact.objects.bulk_create(
        Contact(phone=f"+4479111{n:05d}", name=f"Ann Smith {n}", extra_fields={"city": "Leeds"}) for n in range(130)
    )
    Contact.objects.bulk_create(Contact(phone=f"+4479222{n:05d}", name=f"Bob Jones {n}") for n in range(20))
    Contact.opt_out_phone("+447922200003", "Replied STOP")


def test_filter_select_all_matching_add_to_a_new_list_and_export(logged_in, live_server):
    page = logged_in
    people()
    ContactList.objects.create(name="Newsletter")
    page.goto(f"{live_server.url}/admin/contacts/contact/")
    shot(page, "01-contacts")
    page.fill("#searchbar", "smith")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("text=130 contacts")
    page.click("#action-toggle")
    page.click(".actions .question a")
    page.wait_for_selector(".actions .all:not(.hidden)")
    page.select_option("select[name=action]", "add_to_list")
    shot(page, "02-all-matching-selected")
    page.click("button[name=index]")

    page.wait_for_selector("text=All 130 contacts")
    assert "search “smith”" in page.inner_text("#content-main")
    shot(page, "03-choose-a-list")
    page.fill("#id_new_list_name", "Spring fair")
    page.click("input[type=submit][value='Add to the list']")
    page.wait_for_selector(".messagelist .success")
    assert "Added 130 contact(s) to new list “Spring fair”" in page.inner_text(".messagelist")
    shot(page, "04-added")
    fair = ContactList.objects.get(name="Spring fair")
    assert fair.contacts.count() == 130
    assert not fair.contacts.filter(name__startswith="Bob").exists()

    page.click("text=Spring fair")  # the message links to the list's contacts
    page.wait_for_selector("#changelist-filter li.selected >> text=Spring fair")
    shot(page, "05-filtered-by-list")
    with page.expect_download() as download:
        page.click("text=Export these contacts (CSV)")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 130 and rows[0]["city"] == "Leeds"
    with page.expect_download() as download:
        page.click("text=Export (Excel)")
    assert download.value.suggested_filename.endswith(".xlsx")

    page.goto(f"{live_server.url}/admin/contacts/contactlist/")
    assert "130" in page.inner_text("#result_list")
    shot(page, "06-lists-with-counts")


def test_opting_a_contact_back_in_asks_why_and_shows_it(logged_in, live_server):
    page = logged_in
    people()
    page.goto(f"{live_server.url}/admin/contacts/contact/?subscription=opted_out")
    page.wait_for_selector(".contact-opted-out")
    shot(page, "07-opted-out-filter")
    page.click("input.action-select")
    page.select_option("select[name=action]", "opt_in")
    page.click("button[name=index]")
    page.wait_for_selector("#id_reason")
    shot(page, "08-opt-in-reason")
    page.fill("#id_reason", "Asked at the shop counter to get offers again")
    page.click("input[type=submit][value='Opt them back in']")
    page.wait_for_selector(".messagelist .success")
    record = OptInRecord.objects.get()
    assert (record.by_label, record.contact.phone) == ("maria", "+447922200003")

    stopped = Contact.objects.get(phone="+447922200004")
    Contact.opt_out_phone(stopped.phone, "Replied STOP")
    page.goto(f"{live_server.url}/admin/contacts/contact/{stopped.pk}/change/")
    assert "Opted out on" in page.inner_text(".contact-opted-out-banner")
    shot(page, "09-opted-out-contact")
    page.goto(f"{live_server.url}/admin/contacts/contact/{record.contact.pk}/change/")
    assert "Asked at the shop counter" in page.inner_text("body")
    shot(page, "10-opted-back-in-contact")


def test_a_campaigns_results_export_from_its_page(logged_in, live_server, channel):
    page = logged_in
    campaign = Campaign.objects.create(name="Spring", channel=channel, text="Hi")
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    shot(page, "11-campaign-export-link")
    with page.expect_download() as download:
        page.click("text=Export results (CSV)")
    header = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("phone,name,status,provider message id")

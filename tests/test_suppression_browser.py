"""The suppression list in a real browser: an administrator deletes an opted-out contact (the page
says its number stays suppressed) and imports a suppression file; Marketing views, searches and
exports the list but cannot import."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from contacts.models import Contact, Suppression
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ANN = "+14155550101"


def test_staff_keep_an_opted_out_number_after_deleting_it_and_import_a_suppression_file(
    page, live_server, administrator, tmp_path
):
    ann = Contact.objects.create(phone=ANN, name="Ann")
    Contact.opt_out_phone(ANN, "Replied STOP", channel="Demo Twilio")
    log_in(page, live_server, "maria", f"/admin/contacts/contact/{ann.pk}/delete/")
    assert "Its number opted out and stays on the suppression list" in page.inner_text("#deleted-objects")
    shot(page, "suppression/1-delete-confirmation")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert not Contact.objects.exists()

    page.goto(f"{live_server.url}/admin/contacts/suppression/")
    page.click("a.suppression-import")
    upload = tmp_path / "mailchimp-unsubscribes.csv"
    upload.write_text(
        "Email,Phone,Reason,Date\n"
        "a@example.com,+1 (415) 555-0102,Unsubscribed in Mailchimp,2025-11-02\n"
        "b@example.com,+442079460001,,\n"
        f"c@example.com,{ANN},Again,2024-01-01\n"
        "d@example.com,not a number,,\n"
    )
    page.set_input_files("#id_file", str(upload))
    page.fill("#id_reason", "Mailchimp export, November")
    shot(page, "suppression/2-import-form")
    page.click("#suppression-import input[type=submit]")
    page.wait_for_selector(".messagelist")
    message = page.inner_text(".messagelist")
    assert "4 row(s) read: 2 number(s) added to the suppression list, 1 already on it, 1 row(s) refused" in message
    assert "row 5: phone 'not a number' is not a phone number" in message
    shot(page, "suppression/3-list-after-import")
    rows = page.inner_text("#result_list")
    assert "+14155550102" in rows and "Unsubscribed in Mailchimp" in rows and "Replied STOP" in rows
    assert Suppression.objects.count() == 3


def test_marketing_views_searches_and_exports_the_list(page, live_server, marketing_staff):
    importlib.import_module("contacts.migrations.0006_suppression_list").grant(apps, None)  # emptied by a flush
    Suppression.add([ANN], source="reply", reason="Replied STOP", channel="Demo Twilio")
    Suppression.add(["+442079460001"], source="file", reason="Mailchimp export")
    log_in(page, live_server, "mia", "/admin/contacts/suppression/")
    page.fill("#searchbar", "+1 415")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    shot(page, "suppression/4-marketing-search")
    rows = page.inner_text("#result_list")
    assert ANN in rows and "+442079460001" not in rows and "Demo Twilio" in rows
    assert page.locator("a.suppression-import").count() == 0
    assert page.locator(".object-tools a.addlink").count() == 0
    with page.expect_download() as download:
        page.click("a.suppression-export")
    exported = open(download.value.path(), encoding="utf-8-sig").read()
    assert exported.splitlines()[1].startswith(f"{ANN},") and "+442079460001" not in exported

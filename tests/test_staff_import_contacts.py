"""A staff member imports a messy semicolon CSV into a new list and sends a campaign to it, in Chromium.

Screenshots of every screen go to SCREENSHOTS_DIR when it is set (we look at them by hand).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from contacts.models import Contact, ContactImport, ContactList
from tests.browser import log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MESSY = (
    "Mobile;First name;Last name;Home City;Opted out\r\n"
    "0712 345 678;Ann;Wanjiru;Nairobi;\r\n"
    "2,54712E+11;Bob;Otieno;Mombasa;\r\n"
    "+254 712 345 679;<script>alert(1)</script>;Kamau;Kisumu;\r\n"
    "0712345678;Ann;Again;Nakuru;\r\n"
    "not a number;Dee;Njeri;Eldoret;\r\n"
    '0712345680;"Eve; the second";Achieng;Thika;yes\r\n'
    "0712345681;Fay;Muthoni;Nyeri;\r\n"
)


def test_staff_import_a_messy_csv_into_a_new_list_then_send_a_campaign(
    page, live_server, channel, worker, tmp_path, administrator
):
    csv_file = tmp_path / "kenya customers.csv"
    csv_file.write_bytes(MESSY.encode("cp1252"))

    log_in(page, live_server, "maria", "/admin/contacts/contact/")
    page.click("a.import_link")
    shot(page, "1-upload")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("input[type=submit]")

    # Columns recognised; the staff member picks a new list and Kenya for local numbers.
    page.wait_for_selector("#import-options")
    assert page.input_value("#id_column_0") == "phone"
    assert page.input_value("#id_column_4") == "opted_out_at"
    assert "{{ home_city }}" in page.locator(".import-mapping").inner_text()
    page.fill("#id_new_list_name", "Kenya customers")
    page.select_option("#id_region", "KE")
    shot(page, "2-options")
    page.click("input[type=submit]")

    # The preview: counts and the reasons in plain sight, the script shown as text.
    page.wait_for_selector("#import-preview-counts")
    shot(page, "3-preview")
    counts = page.locator("#import-preview-counts").inner_text()
    assert "New contacts\t4" in counts and "Duplicates within the file (the first row is kept)\t1" in counts
    assert "Invalid rows (will not be imported)\t2" in counts
    reasons = page.locator("#import-reasons").inner_text()
    assert "scientific notation" in reasons and "duplicate of row 2" in reasons and "'not a number'" in reasons
    assert "<script>alert(1)</script>" in page.locator(".import-sample").inner_text()  # text, not a script
    assert Contact.objects.count() == 0 and not ContactList.objects.exists()  # nothing written yet

    page.click("#import-confirm input[type=submit]")
    page.wait_for_selector("#import-progress")
    shot(page, "4-progress-queued")
    worker()
    page.wait_for_selector("#import-next:not([hidden])")
    assert page.inner_text("#import-percent") == "100%"
    assert "New contacts\t4" in page.locator("#import-counts").inner_text()
    shot(page, "5-summary")

    with page.expect_download() as download:
        page.click("#import-report a")
    report = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert report.splitlines()[0] == "row,reason,Mobile,First name,Last name,Home City,Opted out"
    assert len(report.splitlines()) == 4 and "scientific notation" in report

    kenya = ContactList.objects.get(name="Kenya customers")
    assert ContactImport.objects.get().target_list == kenya
    assert kenya.contacts.count() == 4
    assert Contact.objects.get(phone="+254712345680").is_opted_out

    # Then a campaign to that list, from the import's summary.
    page.click("#import-send-campaign")
    page.wait_for_selector("#id_name")
    page.fill("#id_name", "Welcome Kenya")
    page.select_option("#id_channel", str(channel.pk))
    # The summary's link chose the list already (the autocomplete holds only chosen lists).
    expect(page.locator(f"#id_lists option[value='{kenya.pk}']")).to_have_count(1)
    page.fill("#id_text", "Hi {{ name }} in {{ home_city }}")
    shot(page, "6-campaign")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    page.locator("#result_list tbody tr").filter(has_text="Welcome Kenya").locator("input.action-select").check()
    page.select_option("select[name=action]", "launch")
    page.click("button[name=index]")
    page.click("input[value='Yes, launch them']")
    page.wait_for_selector(".messagelist")
    worker()
    campaign = Campaign.objects.get(name="Welcome Kenya")
    sent = campaign.messages.filter(status="sent").values_list("to", flat=True)
    assert sorted(sent) == ["+254712345678", "+254712345679", "+254712345681"]  # not the opted-out Eve

"""The suppression list page: view, search and export (Marketing too); add and import a suppression
file (those who may add); the contact's delete confirmation says the number stays suppressed."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from contacts.importing import suppression as suppression_file
from contacts.models import Contact, Suppression

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:contacts_suppression_changelist")
IMPORT_URL = reverse("admin:contacts_suppression_import")
EXPORT_URL = reverse("admin:contacts_suppression_export")
ANN, BOB, CAT = "+14155550101", "+14155550102", "+442079460001"


@pytest.fixture
def marketing(marketing_staff) -> Client:
    client = Client()
    client.force_login(marketing_staff)
    return client


def upload(staff, content: str, name: str = "old-tool.csv", **fields):
    data = {"file": io.BytesIO(content.encode()), "region": "US", "reason": "", **fields}
    data["file"].name = name
    return staff.post(IMPORT_URL, data, follow=True)


def listed() -> dict[str, tuple[str, str]]:
    return {row.number: (row.source, row.reason) for row in Suppression.objects.all()}


def test_marketing_views_searches_and_exports_but_cannot_add_or_import(marketing):
    Suppression.add([ANN, BOB], source="reply", reason="Replied STOP", channel="Demo Twilio")
    page = marketing.get(LIST_URL, {"q": "+1 415 555 0101"}).content.decode()
    assert ANN in page and BOB not in page and "Replied STOP" in page and "Demo Twilio" in page
    assert "Import a suppression file" not in page and "Export CSV" in page
    assert marketing.get(IMPORT_URL).status_code == 403
    assert marketing.get(reverse("admin:contacts_suppression_add")).status_code == 403
    exported = b"".join(marketing.get(EXPORT_URL, {"q": "1415555010"}).streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][0] == "number" and sorted(row[0] for row in rows[1:]) == [ANN, BOB]
    assert rows[1][2] == "Replied STOP" and rows[1][3] == "reply"


def test_nobody_edits_or_deletes_a_row_on_the_page(staff):
    Suppression.add([ANN], source="reply", reason="Replied STOP")
    row = Suppression.objects.get()
    page = staff.get(reverse("admin:contacts_suppression_change", args=[row.pk])).content.decode()
    assert 'name="reason"' not in page  # read only
    assert staff.get(reverse("admin:contacts_suppression_delete", args=[row.pk])).status_code == 403


def test_adding_a_number_by_hand_keeps_who_and_shows_on_its_contact(staff, make_contact):
    make_contact(ANN)
    staff.post(reverse("admin:contacts_suppression_add"), {"number": "(415) 555-0101", "reason": "Asked on the phone"})
    row = Suppression.objects.get()
    assert (row.number, row.source, row.by_label, row.reason) == (ANN, "staff", "maria", "Asked on the phone")
    assert Contact.objects.get(phone=ANN).is_opted_out


def test_a_suppression_file_with_reasons_and_dates_goes_on_the_list(staff, make_contact):
    make_contact(BOB)
    content = (
        "Mobile,Reason,Date\n"
        f"{ANN},Unsubscribed in Mailchimp,2024-05-31\n"
        "(415) 555-0102,,\n"
        "+44 20 7946 0001,Complaint,not a date\n"
        f"{ANN},Repeated,2023-01-01\n"
        "12345,,\n"
    )
    page = upload(staff, content, reason="From the old tool").content.decode()
    assert "5 row(s) read: 3 number(s) added to the suppression list, 1 already on it, 1 row(s) refused" in page
    assert "row 6: phone &#x27;12345&#x27;" in page or "row 6: phone '12345'" in page
    assert listed() == {
        ANN: ("file", "Repeated"),  # the file repeats it: its earliest date is kept
        BOB: ("file", "From the old tool"),
        CAT: ("file", "Complaint"),
    }
    assert Suppression.objects.get(number=ANN).suppressed_at.year == 2023
    assert Contact.objects.get(phone=BOB).is_opted_out  # the mirror
    assert "1 already on it" not in upload(staff, content).content.decode()  # again: nothing new
    assert Suppression.objects.count() == 3


def test_a_file_of_bare_numbers_with_no_header_is_read_from_its_first_row(staff):
    upload(staff, f"{ANN}\n{BOB}\n")
    assert set(listed()) == {ANN, BOB}


def test_an_unreadable_file_is_refused_naming_the_field(staff):
    page = upload(staff, "%PDF-1.4 not a spreadsheet", name="list.pdf").content.decode()
    assert "file: " in page and "not a file we can import" in page
    assert not Suppression.objects.exists()


def test_a_big_file_goes_in_chunks_never_whole_in_memory(staff, monkeypatch):
    monkeypatch.setattr(suppression_file, "CHUNK_ROWS", 100)
    sizes = []
    write = suppression_file._Writer.write

    def spy(self, rows):
        sizes.append(len(rows))
        return write(self, rows)

    monkeypatch.setattr(suppression_file._Writer, "write", spy)
    numbers = "\n".join(f"+1415555{n:04d}" for n in range(1050))
    upload(staff, "phone\n" + numbers + "\n")
    assert Suppression.objects.count() == 1050
    assert max(sizes) == 100 and len(sizes) == 11


def test_the_delete_confirmation_says_the_number_stays_suppressed(staff, make_contact):
    ann = make_contact(ANN)
    Contact.opt_out_phone(ANN, "Replied STOP")
    page = staff.get(reverse("admin:contacts_contact_delete", args=[ann.pk])).content.decode()
    assert "Its number opted out and stays on the suppression list" in page
    staff.post(reverse("admin:contacts_contact_delete", args=[ann.pk]), {"post": "yes"})
    assert not Contact.objects.exists() and Suppression.objects.filter(number=ANN).exists()
    chosen = [make_contact(ANN).pk, make_contact(BOB).pk, make_contact(CAT).pk]  # Ann comes back opted out
    Contact.opt_out_phone(BOB, "Replied STOP")
    page = staff.post(
        reverse("admin:contacts_contact_changelist"), {"action": "delete_selected", "_selected_action": chosen}
    ).content.decode()
    assert "2 of these numbers opted out and stays on the suppression list" in page
    page = staff.get(reverse("admin:contacts_contact_delete", args=[chosen[2]])).content.decode()
    assert "suppression list" not in page

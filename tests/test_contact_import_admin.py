"""The import pages in the admin: what staff see for bad files, the preview, the JSON status, resuming."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactImport, ContactList

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/contacts/contact/import/"


@pytest.fixture
def staff(client, marketing_staff):
    client.force_login(marketing_staff)
    return client


def upload(client, name: str, content: bytes):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, content)}, follow=True)


def test_the_contact_list_import_button_leads_to_our_upload_page(staff):
    page = staff.get("/admin/contacts/contact/")
    assert f"<a href='{UPLOAD}' class=\"import_link\">Import</a>" in page.content.decode()
    assert "Upload and choose columns" in staff.get(UPLOAD).content.decode()


def test_django_import_export_s_own_confirm_step_is_not_a_second_way_in(staff):
    assert staff.post("/admin/contacts/contact/process_import/", {"import_file_name": "x.csv"}).status_code == 404
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.pdf", b"%PDF-1.4", "is not a file we can import: use one of .csv, .tsv, .txt, .xlsx"),
        ("empty.csv", b"", "The submitted file is empty."),
        ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "is a PNG image, not a spreadsheet"),
        ("header.csv", b"phone,name\n", "has a header row but no contacts under it"),
    ],
)
def test_files_that_cannot_be_imported_get_a_clear_message(staff, name, content, message):
    page = upload(staff, name, content)
    assert message in page.content.decode()
    assert not ContactImport.objects.exists()


def test_a_file_over_the_size_limit_is_refused_saying_the_size_and_the_limit(staff, settings):
    settings.CONTACT_IMPORT_MAX_MB = 1
    page = upload(staff, "huge.csv", b"phone\n" + b"0712345678\n" * 200_000)
    assert "&#x27;huge.csv&#x27; is 2.1 MB; the largest file you can import is 1 MB" in page.content.decode()


def test_a_file_with_no_phone_column_asks_which_column_holds_the_numbers(staff):
    page = upload(staff, "who.csv", b"Who;City\nAnn;Leeds\n")
    contact_import = ContactImport.objects.get()
    assert page.redirect_chain[-1][0] == reverse("admin:contacts_contact_import_options", args=[contact_import.pk])
    form = {"column_0": "extra", "column_1": "extra", "region": "GB", "existing": "update"}
    page = staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form)
    assert "No column is the phone number. The file&#x27;s columns are: &#x27;Who&#x27;, &#x27;City&#x27;" in (
        page.content.decode()
    )
    form["column_0"] = "phone"
    page = staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form, follow=True)
    assert "phone &#x27;Ann&#x27; is not a phone number" in page.content.decode()


def test_the_preview_escapes_names_and_shows_reasons_and_nothing_is_written(staff):
    content = b"Phone;Name\n020 7946 0959;<img src=x onerror=alert(1)>\n1.5E+11;Bob\n020 7946 0958\n"
    upload(staff, "gb.csv", content)
    contact_import = ContactImport.objects.get()
    form = {"column_0": "phone", "column_1": "name", "region": "GB", "existing": "skip", "new_list_name": "London"}
    page = staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form, follow=True)
    html = page.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "scientific notation" in html and "+442079460959" in html
    assert "1 row had fewer cells than the header has columns: the missing cells are taken as empty." in html
    assert not Contact.objects.exists() and not ContactList.objects.filter(name="London").exists()


def test_a_new_list_name_that_exists_is_refused(staff):
    ContactList.objects.create(name="London")
    upload(staff, "gb.csv", b"phone\n02079460959\n")
    contact_import = ContactImport.objects.get()
    form = {"column_0": "phone", "region": "GB", "existing": "update", "new_list_name": "london"}
    page = staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form)
    assert "A list named &#x27;london&#x27; already exists: choose it above instead." in page.content.decode()


def test_confirm_queues_the_job_and_status_reports_progress_then_the_report(
    staff, worker, django_capture_on_commit_callbacks
):
    upload(staff, "ke.csv", b"phone,name\n0712345678,Ann\n=cmd|' /C calc'!A0,Bad\n")
    contact_import = ContactImport.objects.get()
    form = {"column_0": "phone", "column_1": "name", "region": "KE", "existing": "update", "new_list_name": "Kenya"}
    staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk]))
    page = staff.get(reverse("admin:contacts_contact_import_progress", args=[contact_import.pk]))
    assert 'State: <strong id="import-state">Queued</strong>' in page.content.decode()
    status = staff.get(reverse("admin:contacts_contact_import_status", args=[contact_import.pk])).json()
    assert (status["state"], status["percent"], status["finished"]) == ("queued", 0, False)
    worker()
    status = staff.get(reverse("admin:contacts_contact_import_status", args=[contact_import.pk])).json()
    assert (status["state"], status["percent"], status["rejected"]) == ("done", 100, 1)
    assert {"label": "New contacts", "value": 1} in status["counts"]
    report = staff.get(reverse("admin:contacts_contact_import_rejected", args=[contact_import.pk]))
    lines = b"".join(report.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1] == """3,"phone ""=cmd|' /C calc'!A0"" is not a phone number",'=cmd|' /C calc'!A0,Bad"""
    assert ContactList.objects.get(name="Kenya").member_count == 1


def test_an_import_whose_worker_died_offers_to_carry_on_and_finishes(
    staff, worker, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "ke.csv"
    path.write_text("phone\n0712345678\n0712345679\n")
    contact_import = ContactImport.objects.create(
        file_name="ke.csv",
        stored_path=str(path),
        detected={"kind": "text", "encoding": "utf-8", "delimiter": ",", "header": ["phone"], "header_row": 1},
        mapping=[{"column": "phone", "role": "phone", "key": ""}],
        region="KE",
        rows_total=2,
        state="running",
        rq_job_id="contact-import-killed",
    )
    page = staff.get(reverse("admin:contacts_contact_import_progress", args=[contact_import.pk]))
    html = page.content.decode()
    assert "The worker running this import stopped (killed, restarted or stalled). No rows were saved." in html
    assert "Run it again (carries on after row 0; duplicates nothing)" in html
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk]))
    worker()
    contact_import.refresh_from_db()
    assert (contact_import.state, contact_import.created) == ("done", 2)


def test_staff_without_contact_permissions_cannot_import(client):
    user = get_user_model().objects.create_user("viewer", "v@example.com", "a-long-test-password", is_staff=True)
    client.force_login(user)
    assert client.get(UPLOAD).status_code == 403


def test_imports_are_listed_in_the_admin_with_a_link_to_their_page(staff):
    contact_import = ContactImport.objects.create(file_name="<b>list</b>.csv", stored_path="/nowhere", state="done")
    html = staff.get("/admin/contacts/contactimport/").content.decode()
    assert reverse("admin:contacts_contact_import_progress", args=[contact_import.pk]) in html
    assert "&lt;b&gt;list&lt;/b&gt;.csv" in html

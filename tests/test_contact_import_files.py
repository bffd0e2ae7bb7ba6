"""Uploaded import files hold people's numbers: only the server reads them (0600 in a 0700 folder),
and a periodic job removes them CONTACT_IMPORT_KEEP_DAYS after upload, keeping the import's summary."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rq.cron import CronScheduler

from contacts.importing.retention import remove_old_import_files
from contacts.models import ContactImport

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD = "/admin/contacts/contact/import/"
CSV = b"Phone;Name\n020 7946 0959;Ann\n020 7946 0958;Bob\nnot a number;Cy\n"


@pytest.fixture
def staff(client, marketing_staff, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    client.force_login(marketing_staff)
    return client


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def imported(staff, worker, name: str = "people.csv") -> ContactImport:
    """Upload, choose the columns, confirm, and let a real worker run it."""
    staff.post(UPLOAD, {"file": SimpleUploadedFile(name, CSV)})
    contact_import = ContactImport.objects.latest("pk")
    form = {"column_0": "phone", "column_1": "name", "region": "GB", "existing": "update", "new_list_name": name}
    staff.post(reverse("admin:contacts_contact_import_options", args=[contact_import.pk]), form)
    staff.post(reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk]))
    worker()
    contact_import.refresh_from_db()
    assert contact_import.state == ContactImport.State.DONE
    return contact_import


def uploaded_days_ago(contact_import: ContactImport, days: float) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_an_uploaded_file_is_readable_only_by_the_server(staff, settings):
    staff.post(UPLOAD, {"file": SimpleUploadedFile("people.csv", CSV)})
    stored = Path(ContactImport.objects.get().stored_path)
    assert stored.read_bytes() == CSV
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700
    assert mode(Path(settings.VAR_DIR) / "imports") == 0o700


def test_the_periodic_job_removes_files_past_the_keep_time_and_keeps_the_summary(staff, worker, settings):
    assert settings.CONTACT_IMPORT_KEEP_DAYS == 30
    old, recent = imported(staff, worker, "old.csv"), imported(staff, worker, "recent.csv")
    uploaded_days_ago(old, 30.5)
    uploaded_days_ago(recent, 29.5)

    django_rq.get_queue("default").enqueue(remove_old_import_files)
    worker()

    old.refresh_from_db()
    assert not Path(old.stored_path).exists() and not Path(old.stored_path).parent.exists()
    assert old.file_removed_at is not None
    assert (old.state, old.created, old.invalid, old.rejections.count()) == ("done", 2, 1, 1)  # the summary stays
    assert Path(recent.stored_path).read_bytes() == CSV
    assert ContactImport.objects.get(pk=recent.pk).file_removed_at is None


def test_the_keep_time_is_a_setting(staff, worker, settings):
    settings.CONTACT_IMPORT_KEEP_DAYS = 2
    contact_import = imported(staff, worker)
    uploaded_days_ago(contact_import, 2.1)
    assert remove_old_import_files() == {"removed": 1, "made_private": 0}
    assert not Path(contact_import.stored_path).exists()


def test_the_job_is_registered_to_run_every_hour():
    scheduler = CronScheduler(connection=django_rq.get_connection("default"))
    scheduler.load_config_from_file("messaging_site.cron")  # what `manage.py rqcron messaging_site.cron` does
    [job] = [job for job in scheduler.get_jobs() if job.func is remove_old_import_files]
    assert (job.queue_name, job.interval) == ("default", 3600)


def test_a_file_given_on_the_command_line_is_the_users_own_and_never_removed(staff, settings, tmp_path):
    own = tmp_path / "mine.csv"
    own.write_bytes(CSV)
    contact_import = ContactImport.objects.create(file_name="mine.csv", stored_path=str(own), source="command line")
    uploaded_days_ago(contact_import, 400)
    assert remove_old_import_files()["removed"] == 0
    assert own.read_bytes() == CSV
    assert ContactImport.objects.get(pk=contact_import.pk).file_removed_at is None


def test_files_an_earlier_release_left_readable_are_made_private(staff, settings):
    folder = Path(settings.VAR_DIR) / "imports" / "0123abcd"
    folder.mkdir(parents=True)
    (folder / "old.csv").write_bytes(CSV)
    (folder / "old.csv").chmod(0o644)
    folder.chmod(0o755)
    assert remove_old_import_files() == {"removed": 0, "made_private": 3}  # imports/, its folder and the file
    assert (mode(folder), mode(folder / "old.csv")) == (0o700, 0o600)


def test_the_import_page_says_the_file_was_removed_and_offers_no_rerun(staff, worker):
    contact_import = imported(staff, worker)
    ContactImport.objects.filter(pk=contact_import.pk).update(state=ContactImport.State.FAILED, error="worker died")
    uploaded_days_ago(contact_import, 31)
    remove_old_import_files()

    page = staff.get(reverse("admin:contacts_contact_import_progress", args=[contact_import.pk])).content.decode()
    assert "The uploaded file &#x27;people.csv&#x27; was removed on " in page
    assert "uploaded files are kept 30 days (CONTACT_IMPORT_KEEP_DAYS). This summary stays" in page
    assert 'id="import-resume" hidden' in page
    status = staff.get(reverse("admin:contacts_contact_import_status", args=[contact_import.pk])).json()
    assert status["file_removed"].startswith("The uploaded file 'people.csv' was removed on ")

    answer = staff.post(reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk]), follow=True)
    assert "to import the file again, upload it again" in answer.content.decode()
    assert ContactImport.objects.get(pk=contact_import.pk).state == ContactImport.State.FAILED  # not run again


def test_an_import_not_confirmed_before_its_file_went_opens_on_its_page_not_its_columns(staff):
    staff.post(UPLOAD, {"file": SimpleUploadedFile("people.csv", CSV)})
    contact_import = ContactImport.objects.get()
    uploaded_days_ago(contact_import, 31)
    remove_old_import_files()
    options = reverse("admin:contacts_contact_import_options", args=[contact_import.pk])
    page = staff.get(options, follow=True)
    assert page.redirect_chain[-1][0] == reverse("admin:contacts_contact_import_progress", args=[contact_import.pk])
    assert "was removed on" in page.content.decode()

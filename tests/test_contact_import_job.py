"""The import through a real RQ worker, the command line, and an import whose worker died."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from contacts.importing import engine
from contacts.importing.jobs import check_worker, enqueue_import
from contacts.models import Contact, ContactImport, ContactList

pytestmark = pytest.mark.django_db

MESSY = "Mobile;First name;Last name;City\n0712345678;Ann;Smith;Nairobi\n1.5E+11;Bob;X;Y\n0712345679;Cy;;Kisumu\n"


def test_the_job_imports_through_a_real_worker(tmp_path, worker, django_capture_on_commit_callbacks):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY)
    customers = ContactList.objects.create(name="Customers")
    contact_import = ContactImport(file_name=path.name, stored_path=str(path), region="KE", target_list=customers)
    engine.open_import(contact_import)
    contact_import.save()
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(contact_import)
    assert ContactImport.objects.get().state == "queued"
    assert worker() == 1
    contact_import.refresh_from_db()
    assert (contact_import.state, contact_import.created, contact_import.invalid) == ("done", 2, 1)
    assert contact_import.percent == 100
    assert sorted(customers.contacts.values_list("phone", flat=True)) == ["+254712345678", "+254712345679"]
    assert check_worker(contact_import).state == "done"


def test_an_import_whose_worker_died_says_which_rows_went_in(tmp_path):
    contact_import = ContactImport.objects.create(
        file_name="big.csv",
        stored_path=str(tmp_path / "big.csv"),
        state="running",
        rq_job_id="contact-import-lost",
        rows_read=40_000,
        last_committed_row=40_001,
        heartbeat_at=timezone.now(),
    )
    check_worker(contact_import)
    assert contact_import.state == "failed"
    assert "worker running this import stopped" in contact_import.error
    assert "Rows up to row 40001 of the file are saved (40,000 rows)" in contact_import.error
    assert "carries on after row 40001" in contact_import.error


def test_a_running_import_with_a_stale_heartbeat_is_reported(tmp_path, settings, django_capture_on_commit_callbacks):
    settings.CONTACT_IMPORT_STALE_SECONDS = 60
    contact_import = ContactImport.objects.create(file_name="a.csv", stored_path=str(tmp_path / "a.csv"))
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(contact_import)  # the job exists in Redis, queued
    ContactImport.objects.filter(pk=contact_import.pk).update(state="running", heartbeat_at=timezone.now())
    contact_import.refresh_from_db()
    assert check_worker(contact_import).state == "running"
    ContactImport.objects.filter(pk=contact_import.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    contact_import.refresh_from_db()
    assert check_worker(contact_import).state == "failed"


def test_the_command_imports_with_a_progress_bar_a_summary_and_a_report(tmp_path, capsys):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY)
    call_command("import_contacts", str(path), "--list", "Kenya", "--region", "ke", "--skip-existing")
    out, err = capsys.readouterr()
    assert "\r[" in err and "100%" in err
    assert "New contacts: 2" in out and "Invalid rows (not imported): 1" in out
    report = (tmp_path / "messy.csv.rejected.csv").read_text(encoding="utf-8-sig")
    assert report.splitlines()[1].startswith("3,")
    assert ContactList.objects.get(name="Kenya").contacts.count() == 2
    assert ContactImport.objects.get().source == "command line"

    call_command("import_contacts", str(path), "--list", "Kenya", "--region", "KE")
    assert "Existing contacts updated: 2" in capsys.readouterr().out
    assert Contact.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--region", "XX"], "--region 'XX' is not a country code"),
        (["--list", "L"], "No column is the phone number"),
    ],
)
def test_the_command_explains_what_is_wrong(tmp_path, args, words):
    path = tmp_path / "nophone.csv"
    path.write_text("who,city\nAnn,Leeds\n")
    with pytest.raises(CommandError, match=words):
        call_command("import_contacts", str(path), *args)


def test_the_command_refuses_a_missing_file():
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_contacts", "/nonexistent/file.csv")

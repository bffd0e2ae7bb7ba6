"""kill -9 of the worker running a contact import, then "Run it again" with a new worker.

A staff member (Django's test client, in this process) uploads a generated semicolon CSV of tens of
thousands of rows through the admin's import pages: invalid numbers, numbers repeated in the file
(written differently, a chunk or more after their first row), contacts already known (some opted
out). A real `rqworker` process imports it in small chunks (CONTACT_IMPORT_CHUNK_ROWS); once a
few chunks are committed, the worker and its work horse are killed with SIGKILL. Then:

- the progress page says the import is still running (nothing could know yet), and once the
  heartbeat is stale, that it stopped, naming the last row saved;
- the database holds exactly the rows the message names: every good row up to it, none after;
- "Run it again" with a new worker finishes it: the counts add up to the file's rows, every
  number is one contact and one list membership, and every rejected row is reported once.

With ``--fault freeze`` the worker is stopped (SIGSTOP) instead, past the stale window, and woken
once the new worker has the import: it must give way, not write beside it.

    python -m bench.import_kill --rows 30000 [--fault freeze] --json

Run by tests/test_contact_import_crash.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos import Workers
from bench.harness import prepare_django, still_running, tree

CHUNK_ROWS = 1000
STALE_SECONDS = 4  # the progress page's patience (CONTACT_IMPORT_STALE_SECONDS), short for the test
WORKER_SETTINGS = {"CONTACT_IMPORT_CHUNK_ROWS": str(CHUNK_ROWS), "CONTACT_IMPORT_PROCESSES": "2"}
ADMIN = "/admin/contacts/contact/import/"
COUNTS = ("rows_read", "created", "updated", "skipped_existing", "duplicates", "invalid")


@dataclass
class Planned:
    """What the file holds, row by row (spreadsheet row numbers: the header is row 1)."""

    phones: dict[int, str] = field(default_factory=dict)  # good rows that are a number's first: E.164
    duplicates: dict[int, int] = field(default_factory=dict)  # row -> the row it repeats
    invalid: set[int] = field(default_factory=set)
    known: set[str] = field(default_factory=set)  # numbers in the database before the import
    opted_out: set[str] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.phones) + len(self.duplicates) + len(self.invalid)

    @property
    def rejected(self) -> set[int]:
        return set(self.duplicates) | self.invalid


def write_file(path: Path, rows: int, block: int) -> Planned:
    """Kenyan mobiles 07<block><six digits>, in local form; repeats in international form."""
    planned = Planned()
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["Mobile", "Name", "City"])
        for index in range(rows):
            row = index + 2
            first = row - 1500  # the number of a row one or two chunks back
            if index % 97 == 13:
                planned.invalid.add(row)
                writer.writerow(["1.5E+11", f"Mangled {row}", "Nowhere"])
            elif index % 89 == 7 and first in planned.phones:
                planned.duplicates[row] = first
                writer.writerow([f"+254 7{block}{first:06d}", f"Again {row}", "Kisumu"])
            else:
                planned.phones[row] = f"+2547{block}{row:06d}"
                writer.writerow([f"07{block} {row:06d}", f"Person {row}", "Nairobi"])
    return planned


def known_contacts(planned: Planned) -> None:
    """Every 53rd number is already a contact; every third of those opted out."""
    from django.utils import timezone

    from contacts.models import Contact

    for position, phone in enumerate(list(planned.phones.values())[::53]):
        opted_out = position % 3 == 0
        Contact.objects.create(phone=phone, name="Known", opted_out_at=timezone.now() if opted_out else None)
        planned.known.add(phone)
        if opted_out:
            planned.opted_out.add(phone)


STATIC_FILES = "django.contrib.staticfiles.storage.StaticFilesStorage"


def staff_client():
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, as in the suite
    # The pages without `collectstatic`, as in the suite (messaging_site/test_settings.py).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_FILES}}
    user = get_user_model().objects.create_user(f"crash-{secrets.token_hex(3)}", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(user)
    return client, user


def start_import(client, path: Path, list_name: str):
    """Upload, choose the columns and the list, preview, confirm: the staff member's clicks."""
    from contacts.models import ContactImport

    with open(path, "rb") as upload:
        page = client.post(ADMIN, {"file": upload})
    assert page.status_code == 302, page.content.decode()[-2000:]
    contact_import = ContactImport.objects.latest("pk")
    form = {"column_0": "phone", "column_1": "name", "column_2": "extra", "region": "KE"}
    form |= {"existing": "update", "new_list_name": list_name}
    page = client.post(f"{ADMIN}{contact_import.pk}/", form)
    assert page.status_code == 302, page.content.decode()[-2000:]
    page = client.post(f"{ADMIN}{contact_import.pk}/confirm/")
    assert page.status_code == 302, page.content.decode()[-2000:]
    return contact_import


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"Timed out after {timeout:.0f} s waiting for {what}.")


def status(client, import_id: int) -> dict:
    return client.get(f"{ADMIN}{import_id}/status.json").json()


def saved_rows(contact_import, planned: Planned) -> dict:
    """What the database holds of this import against what its last committed row says."""
    from contacts.models import ContactImportRejection, ListMembership

    last = contact_import.last_committed_row
    members = set(
        ListMembership.objects.filter(contact_list_id=contact_import.target_list_id).values_list(
            "contact__phone", flat=True
        )
    )
    rejected = set(
        ContactImportRejection.objects.filter(contact_import=contact_import).values_list("row_number", flat=True)
    )
    expected_members = {phone for row, phone in planned.phones.items() if row <= last}
    return {
        "members": len(members),
        "members_expected": len(expected_members),
        "members_missing": len(expected_members - members),
        "members_after_last_row": len(members - expected_members),
        "rejected": len(rejected),
        "rejected_missing": len({row for row in planned.rejected if row <= last} - rejected),
        "rejected_after_last_row": len({row for row in rejected if row > last}),
    }


def run_scenario(rows: int, fault: str = "kill") -> dict:
    prepare_django()
    os.environ.update(WORKER_SETTINGS)
    from django.conf import settings

    settings.CONTACT_IMPORT_STALE_SECONDS = STALE_SECONDS
    from django.db import connection

    from contacts.models import Contact, ContactImport, ContactList

    block = secrets.randbelow(90) + 10
    folder = Path(tempfile.mkdtemp(prefix="import-kill-"))
    planned = write_file(folder / "customers.csv", rows, block)
    known_contacts(planned)
    client, user = staff_client()
    list_name = f"Crash {secrets.token_hex(3)}"
    workers = Workers()
    result: dict = {"fault": fault, "rows": rows, "database": connection.vendor, "chunk_rows": CHUNK_ROWS}
    try:
        contact_import = start_import(client, folder / "customers.csv", list_name)
        stalled = break_the_worker(contact_import, workers, fault, result)
        until_reported_stopped(client, contact_import, planned, result)
        run_again(client, contact_import, workers, stalled, result)
        result |= final_counts(client, contact_import, planned)
        result["contacts"] = Contact.objects.filter(phone__startswith=f"+2547{block}").count()
        result["contacts_opted_out"] = Contact.objects.filter(
            phone__startswith=f"+2547{block}", opted_out_at__isnull=False
        ).count()
    finally:
        workers.stop_all()
        import django_rq

        django_rq.get_connection("default").flushdb()
        Contact.objects.filter(phone__startswith=f"+2547{block}").delete()
        for stored in ContactImport.objects.filter(created_by=user).values_list("stored_path", flat=True):
            shutil.rmtree(Path(stored).parent, ignore_errors=True)
        ContactImport.objects.filter(created_by=user).delete()
        ContactList.objects.filter(name=list_name).delete()
        user.delete()
        shutil.rmtree(folder, ignore_errors=True)
    return result


def break_the_worker(contact_import, workers: Workers, fault: str, result: dict) -> list[int]:
    """Start a worker; once it has saved its first chunk, kill -9 it (or freeze it). Returns the
    frozen processes (none after a kill)."""
    from contacts.models import ContactImport

    worker = workers.start()
    wait_until(
        lambda: ContactImport.objects.get(pk=contact_import.pk).last_committed_row > CHUNK_ROWS + 1,
        120,
        "the import to save its first chunk",
    )
    processes = tree(worker.pid)  # the worker, its work horse, the horse's parsing processes
    if fault == "kill":
        workers.kill(worker)
    else:
        freeze(processes)
    contact_import.refresh_from_db()
    result["fault_at_row"] = contact_import.last_committed_row
    result["state_after_fault"] = contact_import.state
    if fault == "kill":
        time.sleep(1)  # what the kill left behind: processes of the worker's tree still alive
        result["orphans"] = len(still_running(processes))
        return []
    return processes


def until_reported_stopped(client, contact_import, planned: Planned, result: dict) -> None:
    """The progress page, right after the fault and until its heartbeat is stale."""
    result["page_right_after"] = status(client, contact_import.pk)["state"]
    stopped = wait_until(
        lambda: (answer := status(client, contact_import.pk))["state"] == "failed" and answer,
        STALE_SECONDS + 30,
        "the progress page to say the import stopped",
    )
    result["stopped_message"] = stopped["error"]
    contact_import.refresh_from_db()
    result["last_committed_row"] = contact_import.last_committed_row
    result["rows_read_at_stop"] = contact_import.rows_read
    result["at_stop"] = saved_rows(contact_import, planned)
    progress = client.get(f"{ADMIN}{contact_import.pk}/progress/").content.decode()
    result["offers_run_again"] = f"carries on after row {contact_import.last_committed_row}" in progress


def run_again(client, contact_import, workers: Workers, stalled: list[int], result: dict) -> None:
    """ "Run it again", a new worker; a stalled one wakes up once the new one has the import."""
    from contacts.models import ContactImport

    old_job = contact_import.rq_job_id
    page = client.post(f"{ADMIN}{contact_import.pk}/confirm/")
    assert page.status_code == 302, page.content.decode()[-2000:]
    workers.start()
    if stalled:
        wait_until(
            lambda: (
                ContactImport.objects.filter(pk=contact_import.pk, state="running").exclude(rq_job_id=old_job).exists()
            ),
            60,
            "the new worker to start the import",
        )
        thaw(stalled)
        wait_until(lambda: job_status(old_job) in ("finished", "failed"), 120, "the stalled worker's job to end")
        result["stalled_job"] = job_status(old_job)
    wait_until(lambda: status(client, contact_import.pk)["finished"], 180, "the import run again to finish")
    contact_import.refresh_from_db()


def final_counts(client, contact_import, planned: Planned) -> dict:
    """The import's counts, the list and the rejected rows' report, beside what the file holds."""
    from django.db.models import Count

    from contacts.models import ContactImportRejection, ListMembership

    counts = {name: getattr(contact_import, name) for name in COUNTS}
    rejections = ContactImportRejection.objects.filter(contact_import=contact_import)
    memberships = ListMembership.objects.filter(contact_list_id=contact_import.target_list_id)
    report = client.get(f"{ADMIN}{contact_import.pk}/rejected.csv")
    lines = b"".join(report.streaming_content).decode("utf-8-sig").splitlines()[1:]
    reasons = rejections.filter(row_number__in=planned.duplicates).values_list("row_number", "reason")
    return {
        "state": contact_import.state,
        "error": contact_import.error,
        "counts": counts,
        "rows_total": contact_import.rows_total,
        "at_end": saved_rows(contact_import, planned),
        "contacts_expected": len(planned.phones),
        "contacts_opted_out_expected": len(planned.opted_out),
        "membership_repeats": memberships.values("contact_id").annotate(n=Count("id")).filter(n__gt=1).count(),
        "rejections": rejections.count(),
        "rejected_rows_expected": len(planned.rejected),
        "rejected_rows_wrong": len(set(rejections.values_list("row_number", flat=True)) ^ planned.rejected),
        "duplicates_expected": len(planned.duplicates),
        "invalid_expected": len(planned.invalid),
        "created_expected": len(planned.phones) - len(planned.known),
        "updated_expected": len(planned.known),
        "report_rows": len(lines),
        "report_rows_repeated": len(lines) - len({line.split(",", 1)[0] for line in lines}),
        "duplicate_reasons_wrong": sum(
            1 for row, reason in reasons if not re.search(rf"\brow {planned.duplicates[row]}\b", reason)
        ),
    }


def freeze(pids: list[int]) -> None:
    """SIGSTOP a worker's whole tree: a process that stalls (a paused VM, swapping) past the
    stale window, declared stopped while still alive.

    Only between two of its transactions: frozen inside one, it would hold the import's row lock,
    and "Run it again" would wait for it as long as it stays frozen (see the closing note: a
    session timeout for idle transactions is the product's answer to that, not yet set).
    """
    for _ in range(200):
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        if not _another_transaction_open():
            return
        thaw(pids)
        time.sleep(0.02)
    raise SystemExit("Could not freeze the worker between two of its transactions.")


def _another_transaction_open() -> bool:
    """Whether a session other than ours holds a transaction open on this database (PostgreSQL)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        return cursor.fetchone()[0] > 0


def job_status(job_id: str) -> str:
    import django_rq
    from rq.job import Job

    return Job.fetch(job_id, connection=django_rq.get_connection("default")).get_status()


def thaw(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGCONT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--fault", choices=("kill", "freeze"), default="kill")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_scenario(args.rows, args.fault)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

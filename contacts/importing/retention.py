"""Uploaded import files are personal data: removed CONTACT_IMPORT_KEEP_DAYS after upload.

A periodic job (messaging_site/cron.py) removes each due file and its folder and marks the import
``file_removed_at``; the import's record, counts and rejected rows stay, and its page says the file
was removed. A file given to `manage.py import_contacts` is the user's own, outside VAR_DIR/imports:
it is never touched.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from contacts.importing.engine import PRIVATE_DIR, PRIVATE_FILE, imports_dir
from contacts.importing.jobs import check_worker
from contacts.models import ContactImport
from messaging_site.logs import logged_job


def keep_days() -> int:
    return settings.CONTACT_IMPORT_KEEP_DAYS


@logged_job("remove_old_import_files")
def remove_old_import_files(now: datetime | None = None) -> dict:
    """Remove the uploaded files of imports older than the keep time (not those still running);
    make any file an earlier release left readable by others private. Returns the counts."""
    now = now or timezone.now()
    due = ContactImport.objects.filter(created_at__lt=now - timedelta(days=keep_days()), file_removed_at__isnull=True)
    removed = 0
    for contact_import in due.iterator():
        if _still_running(contact_import) or not _uploaded_here(contact_import):
            continue
        shutil.rmtree(Path(contact_import.stored_path).parent, ignore_errors=True)
        ContactImport.objects.filter(pk=contact_import.pk).update(file_removed_at=now)
        removed += 1
    return {"removed": removed, "made_private": make_files_private()}


def _still_running(contact_import: ContactImport) -> bool:
    """Queued or running, with a live worker (a dead one's import is turned into a failed one)."""
    running = (ContactImport.State.QUEUED, ContactImport.State.RUNNING)
    return contact_import.state in running and check_worker(contact_import).state in running


def _uploaded_here(contact_import: ContactImport) -> bool:
    """Stored in a folder of its own under VAR_DIR/imports (as uploads are), not a file of the user's."""
    folder = Path(contact_import.stored_path).parent.resolve()
    return folder.parent == imports_dir().resolve()


def make_files_private() -> int:
    """Folders 0700 and files 0600 under VAR_DIR/imports; how many had to change."""
    root = imports_dir()
    if not root.is_dir():
        return 0
    changed = 0
    for folder, _dirs, files in os.walk(root):
        changed += _set_mode(Path(folder), PRIVATE_DIR)
        changed += sum(_set_mode(Path(folder) / name, PRIVATE_FILE) for name in files)
    return changed


def _set_mode(path: Path, mode: int) -> int:
    if path.stat().st_mode & 0o777 == mode:
        return 0
    path.chmod(mode)
    return 1

"""The import itself: open a file, preview it, then run it chunk by chunk, resumable.

Used the same way by the admin (preview in the request, the run in an RQ job) and by
`manage.py import_contacts` (both in the terminal).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts.importing import columns, reading
from contacts.importing.errors import ImportFileError
from contacts.importing.parallel import chunked, default_processes, parse_chunks
from contacts.importing.rows import Contact, Rejection
from contacts.models import Contact as ContactModel
from contacts.models import ContactImport, Suppression

log = logging.getLogger(__name__)
PREVIEW_ROWS = 20_000
PREVIEW_REASONS = 20
Progress = Callable[[ContactImport], None]


class Superseded(Exception):
    """This run no longer has the import: it was declared stopped (its heartbeat went stale while
    the worker was stalled, not dead) and perhaps run again by another worker. The chunk it was
    writing is rolled back and it stops, leaving the import to whoever has it now."""


def imports_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


# Uploaded files hold people's numbers and names: only the server's own user may read them.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def max_upload_bytes() -> int:
    return getattr(settings, "CONTACT_IMPORT_MAX_MB", 150) * 1024 * 1024


def chunk_rows() -> int:
    return getattr(settings, "CONTACT_IMPORT_CHUNK_ROWS", 20_000)


def safe_file_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")) or "upload"
    return re.sub(r"[^A-Za-z0-9._ -]+", "_", base)[:120]


def store_upload(chunks, file_name: str) -> tuple[str, int]:
    """Write an uploaded file under VAR_DIR/imports/<random>/ (folders 0700, the file 0600) and
    return (path, size)."""
    imports_dir().mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    imports_dir().chmod(PRIVATE_DIR)  # made by an earlier release with the umask's mode
    folder = imports_dir() / secrets.token_hex(8)
    folder.mkdir(mode=PRIVATE_DIR)
    path = folder / safe_file_name(file_name)
    size = 0
    # Created with its final mode: never readable by others, not even while it is being written.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb") as out:
        for chunk in chunks:
            size += len(chunk)
            out.write(chunk)
    return str(path), size


def open_import(contact_import: ContactImport) -> reading.SheetInfo:
    """Read the file's kind, header and size of an import just created; propose a mapping."""
    info = reading.inspect(contact_import.stored_path, contact_import.file_name)
    contact_import.detected = info.as_dict()
    contact_import.mapping = columns.guess_mapping(info.header)
    contact_import.rows_total = reading.count_data_rows(contact_import.stored_path, info, contact_import.file_name)
    if contact_import.rows_total == 0:
        raise ImportFileError(f"{contact_import.file_name!r} has a header row but no contacts under it.")
    return info


def plan(contact_import: ContactImport) -> dict:
    problems = columns.mapping_problems(contact_import.mapping)
    if problems:
        raise ImportFileError(" ".join(problems))
    return columns.plan_for(contact_import.mapping, contact_import.region, timezone.now().isoformat())


def _rows(contact_import: ContactImport):
    info = reading.SheetInfo.from_dict(contact_import.detected)
    return reading.iter_rows(contact_import.stored_path, info, contact_import.file_name)


def split_duplicates(contacts: list[Contact]) -> tuple[list[Contact], list[Rejection]]:
    """Within one chunk, the first row with a number wins; later rows with it are its duplicates,
    except that any row saying the number opted out makes the kept row opted out too.

    (Across chunks the database remembers the numbers: see ChunkWriter.split_duplicates.)
    """
    from contacts.importing.writing import duplicate_of

    kept: dict[str, int] = {}  # number -> its position in fresh
    fresh, duplicates = [], []
    for contact in contacts:
        position = kept.setdefault(contact[1], len(fresh))
        if position == len(fresh):
            fresh.append(contact)
            continue
        first = fresh[position]
        opted_out = contact[4] is not None
        if opted_out and first[4] is None:
            fresh[position] = (*first[:4], contact[4])
        duplicates.append(duplicate_of(contact[0], contact[1], first[0], opted_out))
    return fresh, duplicates


def build_preview(contact_import: ContactImport) -> dict:
    """What the import would do with the first PREVIEW_ROWS rows, writing nothing."""
    row_plan = plan(contact_import)
    rows = []
    for row in _rows(contact_import):
        rows.append(row)
        if len(rows) >= PREVIEW_ROWS:
            break
    contacts, rejections = [], []
    for _count, _last, parsed, rejected in parse_chunks(row_plan, [rows] if rows else [], processes=1):
        contacts, rejections = parsed, rejected
    fresh, duplicates = split_duplicates(contacts)
    width = len(contact_import.mapping)
    short_rows = sum(1 for _number, cells, _problem in rows if cells is not None and len(cells) < width)
    existing = _existing(c[1] for c in fresh)
    rejected_rows = sorted(rejections + duplicates)
    known = sum(1 for c in fresh if existing.get(c[1], NOT_KNOWN)[0])
    suppressed = {c[1] for c in fresh if existing.get(c[1], NOT_KNOWN)[1]}
    update = contact_import.existing == ContactImport.Existing.UPDATE
    preview = {
        "rows_read": len(rows),
        "rows_total": contact_import.rows_total,
        "sampled": (contact_import.rows_total or 0) > len(rows),
        "new": len(fresh) - known,
        "updated": known if update else 0,
        "skipped_existing": 0 if update else known,
        "duplicates": len(duplicates),
        "invalid": len(rejections),
        "short_rows": short_rows,
        "stay_opted_out": len(suppressed),
        "opting_out": sum(1 for c in fresh if c[4] and c[1] not in suppressed),
        "reasons": [
            {"row": row, "reason": reason, "values": values} for row, reason, values in rejected_rows[:PREVIEW_REASONS]
        ],
        "sample": [
            {"row": c[0], "phone": c[1], "name": c[2], "extras": json.loads(c[3]), "opted_out": bool(c[4])}
            for c in fresh[:5]
        ],
    }
    contact_import.preview = preview
    contact_import.state = ContactImport.State.PREVIEWED
    return preview


NOT_KNOWN = (False, False)


def _existing(phones) -> dict[str, tuple[bool, bool]]:
    """The numbers among these that we know: (a contact has it, it is on the suppression list)."""
    found: dict[str, tuple[bool, bool]] = {}
    batch: list[str] = []
    for phone in phones:
        batch.append(phone)
        if len(batch) == 500:
            found.update(_lookup(batch))
            batch = []
    found.update(_lookup(batch))
    return found


def _lookup(batch: list[str]) -> dict[str, tuple[bool, bool]]:
    if not batch:
        return {}
    suppressed = Suppression.numbers_among(batch)
    contacts = set(ContactModel.objects.filter(phone__in=batch).values_list("phone", flat=True))
    return {phone: (phone in contacts, phone in suppressed) for phone in contacts | suppressed}


def run(contact_import: ContactImport, progress: Progress | None = None, processes: int | None = None) -> ContactImport:
    """Import every row after ``last_committed_row``, a committed chunk at a time.

    Rows already committed by an earlier run (which stopped partway) are read again only to
    remember their numbers, so that duplicates of them are still reported as duplicates.
    """
    from contacts.importing.writing import ChunkWriter

    if contact_import.state == ContactImport.State.DONE:
        return contact_import
    resume_after = contact_import.last_committed_row
    try:
        _mark_running(contact_import)
        row_plan = plan(contact_import)
        writer = ChunkWriter(contact_import)
        if processes is None:
            processes = getattr(settings, "CONTACT_IMPORT_PROCESSES", 0) or default_processes()
        if (contact_import.rows_total or 0) <= chunk_rows():
            processes = 1  # starting processes costs more than a small file
        chunks = chunked(_rows(contact_import), chunk_rows())
        for _count, last_row, parsed, rejected in parse_chunks(row_plan, chunks, processes):
            within, _ = split_duplicates([c for c in parsed if c[0] <= resume_after])
            writer.remember(within)  # rows saved by an earlier run: only remember their numbers
            if last_row <= resume_after:
                continue
            contacts = [c for c in parsed if c[0] > resume_after]
            rejections = [r for r in rejected if r[0] > resume_after]
            with transaction.atomic():
                fresh, duplicates = split_duplicates(contacts)
                fresh, earlier = writer.split_duplicates(fresh)
                _save_chunk(
                    contact_import,
                    writer,
                    fresh=fresh,
                    invalid=rejections,
                    duplicates=sorted(duplicates + earlier),
                    last_row=last_row,
                )
            if progress:
                progress(contact_import)
        _mark_done(contact_import)
    except Superseded:
        return _let_go(contact_import)
    except Exception as error:
        if not _mark_failed(contact_import, error):
            return _let_go(contact_import)  # failed because another run has it (its rows are in): its state stands
        raise
    if progress:
        progress(contact_import)
    return contact_import


COUNT_FIELDS = ["rows_read", "created", "updated", "skipped_existing", "duplicates", "invalid"]


def _save_chunk(contact_import, writer, *, fresh, invalid, duplicates, last_row: int) -> None:
    with transaction.atomic():
        counts = writer.write(fresh, invalid + duplicates)
        contact_import.rows_read += len(fresh) + len(invalid) + len(duplicates)
        contact_import.created += counts.created
        contact_import.updated += counts.updated
        contact_import.skipped_existing += counts.skipped_existing
        contact_import.duplicates += len(duplicates)
        contact_import.invalid += len(invalid)
        contact_import.last_committed_row = last_row
        contact_import.heartbeat_at = timezone.now()
        fields = [*COUNT_FIELDS, "last_committed_row", "heartbeat_at"]
        if not _ours(contact_import).update(**{name: getattr(contact_import, name) for name in fields}):
            raise Superseded  # rolls the chunk back: the run that has the import now writes it


def _ours(contact_import: ContactImport):
    """The import, if this run still has it: running, under the job id the run started with (the
    one in memory: "Run it again" gives the row a new one, which a run never reads back)."""
    return ContactImport.objects.filter(
        pk=contact_import.pk, rq_job_id=contact_import.rq_job_id, state=ContactImport.State.RUNNING
    )


def _mark_done(contact_import: ContactImport) -> None:
    now = timezone.now()
    if not _ours(contact_import).update(state=ContactImport.State.DONE, finished_at=now):
        raise Superseded
    contact_import.state, contact_import.finished_at = ContactImport.State.DONE, now


def _let_go(contact_import: ContactImport) -> ContactImport:
    log.warning("contact import %s: stopped, another run has it now", contact_import.pk)
    contact_import.refresh_from_db()
    return contact_import


def _mark_running(contact_import: ContactImport) -> None:
    now = timezone.now()
    changes = {"state": ContactImport.State.RUNNING, "heartbeat_at": now, "error": ""}
    changes["started_at"] = contact_import.started_at or now
    mine = ContactImport.objects.filter(pk=contact_import.pk, rq_job_id=contact_import.rq_job_id)
    mine = mine.exclude(state=ContactImport.State.DONE)
    if not mine.update(**changes):
        raise Superseded
    for name, value in changes.items():
        setattr(contact_import, name, value)


def _mark_failed(contact_import: ContactImport, error: Exception) -> bool:
    """Record why this run stopped; False if it was no longer this run's to record."""
    message = str(error) if isinstance(error, ImportFileError) else f"{type(error).__name__}: {error}"
    try:  # the chunk that failed was rolled back: report what the database holds
        contact_import.refresh_from_db(fields=[*COUNT_FIELDS, "last_committed_row"])
    except Exception:  # the database itself may be what failed; keep what we know
        log.warning("contact import %s: could not re-read its counts", contact_import.pk, exc_info=True)
    log.warning("contact import %s stopped: %s", contact_import.pk, message, exc_info=True)
    contact_import.state = ContactImport.State.FAILED
    contact_import.error = f"{stopped_message(contact_import)} The error: {message[:1000]}"
    contact_import.finished_at = timezone.now()
    return bool(
        _ours(contact_import).update(
            state=contact_import.state, error=contact_import.error, finished_at=contact_import.finished_at
        )
    )


def stopped_message(contact_import: ContactImport, why: str = "The import stopped.") -> str:
    """Why it stopped, exactly which rows went in, and that running it again is safe."""
    last = contact_import.last_committed_row
    if last <= (contact_import.detected or {}).get("header_row", 1):
        saved = "No rows were saved."
    else:
        saved = f"Rows up to row {last} of the file are saved ({contact_import.rows_read:,} rows); the rest are not."
    return f"{why} {saved} Run it again to finish: it carries on after row {last} and duplicates nothing."

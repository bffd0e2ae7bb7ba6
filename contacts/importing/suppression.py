# ruff: noqa: S608 - the SQL is built only from our own table names; every value is a parameter
"""A suppression file from another tool (a column of numbers, an optional reason and date) onto the
suppression list, set-based and in bounded memory.

The file is read a row at a time (the contact importer's reader: CSV/TSV/XLSX, any encoding) and
goes into the database in chunks of CHUNK_ROWS: staged in a temporary table (COPY on PostgreSQL),
then one INSERT ... SELECT ... ON CONFLICT DO NOTHING puts the new numbers on the list and one
UPDATE shows them on their contacts; each chunk commits on its own, so a million rows never sit in
Python and running the same file again adds nothing. A number already on the list keeps its
first record.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from contacts.importing import columns, reading
from contacts.importing.rows import normalise_phone
from contacts.models import Contact, Suppression

STAGING = "suppression_import_staging"
CHUNK_ROWS = 20_000
REASONS_SHOWN = 10
E164 = re.compile(r"\+[1-9]\d{6,14}")  # already E.164: no need to ask phonenumbers (most exports are)
REASON_HEADERS = {"reason", "why", "note", "notes", "comment", "source", "unsubscribe reason", "opt out reason"}
DATE_HEADERS = {"date", "when", "time", "created", "created at", "suppressed at", "added", "added at"}


@dataclass
class SuppressionFileResult:
    """What became of a suppression file: rows read, numbers added, already listed, rows refused."""

    rows: int = 0
    added: int = 0
    already: int = 0
    invalid: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few refused rows, with why

    def summary(self) -> str:
        text = (
            f"{self.rows:,} row(s) read: {self.added:,} number(s) added to the suppression list, "
            f"{self.already:,} already on it"
        )
        if self.invalid:
            text += f", {self.invalid:,} row(s) refused ({'; '.join(self.reasons)}"
            text += "; …)" if self.invalid > len(self.reasons) else ")"
        return text + "."


@dataclass
class FileColumns:
    """Which column holds what; ``header`` False when the first row is already a number."""

    number: int
    reason: int | None
    date: int | None
    header: bool


def find_columns(header: list[str], region: str) -> FileColumns:
    """The number column is the one named like a phone column, else the first; a reason and a date
    column are used when named so. A first row whose first cell is a number is data, not a header."""
    words = [columns.header_words(cell) for cell in header]
    number = next((i for i, w in enumerate(words) if w in columns.ALIASES[columns.PHONE]), None)
    if number is None and header and normalise_phone(header[0], region)[0]:
        return FileColumns(number=0, reason=None, date=None, header=False)
    reason = next((i for i, w in enumerate(words) if w in REASON_HEADERS), None)
    dates = DATE_HEADERS | columns.ALIASES[columns.OPTED_OUT_AT]
    date = next((i for i, w in enumerate(words) if w in dates), None)
    return FileColumns(number=number or 0, reason=reason, date=date, header=True)


def import_suppression_file(path: str, file_name: str, *, region: str, reason: str, by=None) -> SuppressionFileResult:
    """Put every number of the file on the suppression list; ImportFileError if it cannot be read."""
    info = reading.inspect(path, file_name)
    found = find_columns(info.header, region)
    if not found.header:
        info.header_row -= 1  # the first row is a number: read it too
    result = SuppressionFileResult()
    now = timezone.now()
    writer = _Writer(reason=reason[:200], by=by)
    chunk: list[tuple] = []
    for row_number, cells, problem in reading.iter_rows(path, info, file_name):
        result.rows += 1
        row, why = _read_row(cells, problem, found, region, now)
        if row is None:
            _refuse(result, row_number, why)
        else:
            chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            result.added += writer.write(chunk)
            chunk = []
    if chunk:
        result.added += writer.write(chunk)
    result.already = result.rows - result.invalid - result.added
    return result


def _read_row(cells, problem: str, found: FileColumns, region: str, now) -> tuple[tuple | None, str]:
    """(number, when, reason) or (None, why not)."""
    if cells is None:
        return None, problem
    raw = cells[found.number].strip() if found.number < len(cells) else ""
    number = raw if E164.fullmatch(raw) else normalise_phone(raw, region)[0]
    if number is None:
        return None, normalise_phone(raw, region)[1]
    when = _date(cells[found.date]) if found.date is not None and found.date < len(cells) else None
    why = cells[found.reason].strip()[:200] if found.reason is not None and found.reason < len(cells) else ""
    return (number, when or now, why), ""


def _date(text: str) -> datetime.datetime | None:
    """A date or time in ISO form (2024-05-31, 2024-05-31T10:00:00Z); anything else means "now"."""
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


def _refuse(result: SuppressionFileResult, row_number: int, why: str) -> None:
    result.invalid += 1
    if len(result.reasons) < REASONS_SHOWN:
        result.reasons.append(f"row {row_number}: {why}")


class _Writer:
    """Stages and applies chunks; the staging table lives as long as the connection's session."""

    def __init__(self, reason: str, by) -> None:
        self.reason, self.by = reason, by
        self.postgres = connection.vendor == "postgresql"
        when = "timestamptz" if self.postgres else "text"
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} "
                f"(number varchar(16), suppressed_at {when}, reason varchar(200))"
            )

    def write(self, rows: list[tuple]) -> int:
        """One chunk, committed whole; returns how many numbers were new on the list."""
        quote = connection.ops.quote_name
        suppression, contacts = quote(Suppression._meta.db_table), quote(Contact._meta.db_table)
        by_id = self.by.pk if self.by is not None else None
        by_label = self.by.get_username() if self.by is not None else ""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with transaction.atomic(), connection.cursor() as cursor:
            self._stage(cursor, rows)
            # One row per number (the earliest date, its reason or the form's) even if the file repeats it.
            cursor.execute(
                f"INSERT INTO {suppression} (number, suppressed_at, reason, source, channel, by_id, by_label) "
                f"SELECT number, MIN(suppressed_at), COALESCE(NULLIF(MIN(reason), ''), %s), %s, '', %s, %s "
                f"FROM {STAGING} WHERE true GROUP BY number ON CONFLICT (number) DO NOTHING",
                [self.reason, Suppression.Source.FILE, by_id, by_label],
            )
            added = max(0, cursor.rowcount)
            cursor.execute(
                f"UPDATE {contacts} AS c SET opted_out_at = x.suppressed_at, opt_out_reason = x.reason, "
                f"updated_at = %s FROM {STAGING} AS s, {suppression} AS x "
                "WHERE c.phone = s.number AND x.number = s.number AND c.opted_out_at IS NULL",
                [now],
            )
        return added

    def _stage(self, cursor, rows: list[tuple]) -> None:
        if self.postgres:
            cursor.execute(f"TRUNCATE {STAGING}")
            with cursor.cursor.copy(f"COPY {STAGING} (number, suppressed_at, reason) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"ANALYZE {STAGING}")  # the planner then joins it by the unique indexes
            return
        cursor.execute(f"DELETE FROM {STAGING}")
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {STAGING} (number, suppressed_at, reason) VALUES (%s, %s, %s)",
            [(number, adapt(when), why) for number, when, why in rows],
        )

"""Spreadsheet exports (CSV and XLSX), streamed in constant memory, safe to open in Excel.

Rows come from the database in chunks (``iterator(chunk_size=...)``; a server-side cursor on
PostgreSQL) and leave as they are written. CSV goes out line by line; XLSX is written by openpyxl's
write-only mode to a temporary file (an .xlsx is a zip, finished only at the end) and then sent in
pieces. Text that a spreadsheet would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import datetime
import json
import tempfile
from collections.abc import Iterable, Iterator

from django.db import connections
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000
CSV_LINES_PER_PIECE = 500
XLSX_PIECE_BYTES = 64 * 1024
XLSX_ROWS_PER_SHEET = 1_048_575  # Excel's 1,048,576 rows, less the header


class Column:
    """A header and whether its text is ours and safe as is (E.164 phones start with '+')."""

    def __init__(self, header: str, trusted: bool = False) -> None:
        self.header = header
        self.trusted = trusted


def neutralise(value: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading '."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def cell(value: object, zone: datetime.tzinfo, trusted: bool = False) -> object:
    """One value as a spreadsheet cell: text neutralised, times in ``zone`` and naive, JSON as JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value, zone).replace(tzinfo=None, microsecond=0)
    if isinstance(value, (dict, list, bool)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return value if trusted else neutralise(value)
    return value


def zone_name() -> str:
    """The staff member's time zone, named in the headers of time columns."""
    return str(timezone.get_current_timezone())


def response(rows: Iterable[list], columns: list[Column], file_format: str, filename: str) -> StreamingHttpResponse:
    """A download of ``rows`` under the ``columns`` headers as CSV or XLSX, streamed."""
    # The rows are written after the view has returned, when the staff member's zone (activated per
    # request by the middleware) is gone again: take it now.
    zone = timezone.get_current_timezone()
    cells = ([cell(v, zone, c.trusted) for v, c in zip(row, columns, strict=True)] for row in rows)
    header = [neutralise(c.header) for c in columns]
    pieces = csv_pieces(header, cells) if file_format == "csv" else xlsx_pieces(header, cells, filename)
    answer = StreamingHttpResponse(pieces, content_type=FORMATS[file_format])
    answer["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    answer["Cache-Control"] = "no-store"
    return answer


class _Line:
    """csv.writer needs a file; this one hands each line back."""

    def write(self, text: str) -> str:
        return text


def csv_pieces(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    writer = csv.writer(_Line())
    # The byte order mark makes Excel read the file as UTF-8 (names with accents stay intact).
    lines = ["\ufeff" + writer.writerow(header)]
    for row in rows:
        lines.append(writer.writerow([_csv_text(value) for value in row]))
        if len(lines) >= CSV_LINES_PER_PIECE:
            yield "".join(lines).encode()
            lines = []
    yield "".join(lines).encode()


def _csv_text(value: object) -> object:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime.datetime) else value


def xlsx_pieces(header: list[str], rows: Iterable[list], title: str) -> Iterator[bytes]:
    workbook = Workbook(write_only=True)  # rows go to a temporary file as they come: constant memory
    sheet, written = None, XLSX_ROWS_PER_SHEET
    for row in rows:
        if written == XLSX_ROWS_PER_SHEET:  # Excel opens no sheet longer than 1,048,576 rows
            sheet, written = _new_sheet(workbook, title, header), 0
        sheet.append([_xlsx_value(value) for value in row])
        written += 1
    if sheet is None:
        _new_sheet(workbook, title, header)
    with tempfile.TemporaryFile() as finished:
        workbook.save(finished)
        finished.seek(0)
        while piece := finished.read(XLSX_PIECE_BYTES):
            yield piece


def _new_sheet(workbook: Workbook, title: str, header: list[str]):
    number = len(workbook.worksheets) + 1
    sheet = workbook.create_sheet(title[:31] if number == 1 else f"{title[:26]} ({number})")
    sheet.append(header)
    return sheet


def _xlsx_value(value: object) -> object:
    # openpyxl refuses control characters, which do turn up in imported names.
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


# Contacts -----------------------------------------------------------------------------------------


def extra_field_names(contacts: QuerySet) -> list[str]:
    """Every key used in the contacts' extra fields, found by the database (no rows loaded)."""
    connection = connections[contacts.db]
    ids_sql, params = contacts.order_by().values("pk").query.get_compiler(using=contacts.db).as_sql()
    table = connection.ops.quote_name(contacts.model._meta.db_table)
    # Only our table name and Django's compiled subquery (its values stay in params) go into the text.
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT jsonb_object_keys(extra_fields) FROM {table} "  # noqa: S608
            f"WHERE jsonb_typeof(extra_fields) = 'object' AND id IN ({ids_sql})"
        )
    else:
        sql = (
            f"SELECT DISTINCT field.key FROM {table}, json_each({table}.extra_fields) AS field "  # noqa: S608
            f"WHERE json_type({table}.extra_fields) = 'object' AND {table}.id IN ({ids_sql})"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(str(key) for (key,) in cursor.fetchall())


def contact_columns(extra_names: list[str]) -> list[Column]:
    zone = zone_name()
    fixed = [
        Column("phone", trusted=True),
        Column("name"),
        Column("subscription", trusted=True),
        Column(f"opted out at ({zone})"),
        Column("opt-out reason"),
        Column(f"created at ({zone})"),
    ]
    return fixed + [Column(name) for name in extra_names]


def contact_rows(contacts: QuerySet, extra_names: list[str]) -> Iterator[list]:
    fields = ["phone", "name", "opted_out_at", "opt_out_reason", "created_at", "extra_fields"]
    for phone, name, opted_out_at, reason, created_at, stored in contacts.values_list(*fields).iterator(
        chunk_size=CHUNK_SIZE
    ):
        extras = stored if isinstance(stored, dict) else {}
        status = "opted out" if opted_out_at else "subscribed"
        yield [phone, name, status, opted_out_at, reason, created_at, *(extras.get(key) for key in extra_names)]


def export_contacts(contacts: QuerySet, file_format: str) -> StreamingHttpResponse:
    """Download ``contacts`` (already filtered as the staff member sees them), one column per extra field."""
    extra_names = extra_field_names(contacts)
    filename = f"contacts-{timezone.localdate():%Y-%m-%d}"
    return response(contact_rows(contacts, extra_names), contact_columns(extra_names), file_format, filename)

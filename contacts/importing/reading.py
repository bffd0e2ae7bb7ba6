"""Opening a spreadsheet as a stream of rows: kind, encoding and delimiter found from the file itself.

CSV-like files are read line by line (never whole). Excel files are read with python-calamine,
picked over openpyxl by measurement (100,000 rows: calamine 0.46 s, openpyxl 7.8 s); calamine
holds the sheet's cells in memory (about 45 MB per 100,000 rows of five columns), which Excel's
own limit of 1,048,576 rows bounds.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from contacts.importing.errors import ImportFileError

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")
ACCEPTED = ", ".join(TEXT_EXTENSIONS + EXCEL_EXTENSIONS)
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 64 * 1024
BLOCK_BYTES = 1024 * 1024

# Magic numbers of files people upload by mistake, to name them in the message.
NOT_SPREADSHEETS = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"Rar!": "a RAR archive",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass
class SheetInfo:
    """How to read a file: found once at upload, stored on the import, used again by the job."""

    kind: str  # "text" or "excel"
    encoding: str = ""
    delimiter: str = ","
    header: list[str] = field(default_factory=list)
    header_row: int = 1

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "header": self.header,
            "header_row": self.header_row,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SheetInfo:
        return cls(**{key: data[key] for key in ("kind", "encoding", "delimiter", "header", "header_row")})

    def describe(self) -> str:
        if self.kind == "excel":
            return "Excel workbook (first sheet)"
        return f"text, {self.encoding}, {DELIMITERS.get(self.delimiter, repr(self.delimiter))}-separated"


def inspect(path: str, file_name: str) -> SheetInfo:
    """Find how to read the file and its header row; ImportFileError says why it cannot be read."""
    extension = os.path.splitext(file_name.lower())[1]
    if extension not in TEXT_EXTENSIONS + EXCEL_EXTENSIONS:
        raise ImportFileError(f"{file_name!r} is not a file we can import: use one of {ACCEPTED}.")
    size = os.path.getsize(path)
    if size == 0:
        raise ImportFileError(f"{file_name!r} is empty.")
    with open(path, "rb") as stream:
        start = stream.read(SAMPLE_BYTES)
    for magic, what in NOT_SPREADSHEETS.items():
        if start.startswith(magic):
            raise ImportFileError(f"{file_name!r} is {what}, not a spreadsheet: use one of {ACCEPTED}.")
    if start.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")) or extension in EXCEL_EXTENSIONS:
        info = SheetInfo(kind="excel")
    else:
        encoding = detect_encoding(path, start, file_name)
        info = SheetInfo(kind="text", encoding=encoding, delimiter=detect_delimiter(start, encoding))
    for row_number, cells in iter_all_rows(path, info, file_name):
        if cells is not None and any(cell.strip() for cell in cells):
            info.header, info.header_row = clean_header(cells), row_number
            return info
    raise ImportFileError(f"{file_name!r} has no rows: it is empty apart from blank lines.")


def clean_header(cells: list[str]) -> list[str]:
    return [cell.strip().lstrip("\ufeff").strip() for cell in cells]


def detect_encoding(path: str, start: bytes, file_name: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text"), else Windows-1252 / Latin-1."""
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in start:
        even, odd = start[0::2].count(0), start[1::2].count(0)
        if odd > len(start) // 4 and even == 0:
            return "utf-16-le"
        if even > len(start) // 4 and odd == 0:
            return "utf-16-be"
        raise ImportFileError(f"{file_name!r} is not a text spreadsheet (it holds binary data): use one of {ACCEPTED}.")
    for encoding in ("utf-8", "cp1252"):
        if decodes_whole(path, encoding):
            return encoding
    return "latin-1"  # every byte is a Latin-1 character: the last resort always reads


def decodes_whole(path: str, encoding: str) -> bool:
    """Whether the whole file decodes, checked block by block (a file cut short inside a UTF-8
    character still counts as UTF-8: that row is reported, the file is not misread)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as stream:
        try:
            while block := stream.read(BLOCK_BYTES):
                decoder.decode(block)
        except UnicodeDecodeError:
            return False
    return True


def detect_delimiter(start: bytes, encoding: str) -> str:
    """The delimiter that splits the first lines into the same number (two or more) of columns."""
    text = start.decode(encoding, errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(start) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-line
    lines = [line for line in lines[:50] if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delimiter))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(1 for row in rows if len(row) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def iter_rows(path: str, info: SheetInfo, file_name: str = "") -> Iterator[tuple[int, list[str] | None, str]]:
    """The data rows after the header as (row number, cells, problem); blank rows are left out.

    ``cells`` is None when the row itself cannot be read (``problem`` says why): a broken quote,
    or the file stopping in the middle of the row.
    """
    header_row = info.header_row
    rows = _text_rows(path, info) if info.kind == "text" else _rows_with_problems(path, info, file_name)
    for row_number, cells, problem in rows:  # a million times: kept to two cheap tests
        if row_number <= header_row or (cells is not None and not "".join(cells).strip()):
            continue
        yield row_number, cells, problem


def iter_all_rows(path: str, info: SheetInfo, file_name: str = "") -> Iterator[tuple[int, list[str] | None]]:
    for row_number, cells, _problem in _rows_with_problems(path, info, file_name):
        yield row_number, cells


def _rows_with_problems(path: str, info: SheetInfo, file_name: str) -> Iterator[tuple[int, list[str] | None, str]]:
    if info.kind == "excel":
        yield from ((number, cells, "") for number, cells in _excel_rows(path, file_name))
    else:
        yield from _text_rows(path, info)


def _text_rows(path: str, info: SheetInfo) -> Iterator[tuple[int, list[str] | None, str]]:
    with open(path, encoding=info.encoding, errors="replace", newline="") as stream:
        reader = csv.reader(stream, delimiter=info.delimiter, strict=True)
        row_number = 0
        while True:
            row_number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield row_number, None, _csv_problem(str(error))
                continue
            yield row_number, cells, ""


def _csv_problem(error: str) -> str:
    if "unexpected end of data" in error:
        return "the file stops in the middle of this row (a quote is opened and never closed): it looks cut short"
    return f"this row's quotes are broken ({error}); put the cell in quotes or remove the stray quote"


def _excel_rows(path: str, file_name: str) -> Iterator[tuple[int, list[str]]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(path)
        sheet = workbook.get_sheet_by_index(0)
        first_row = (sheet.start or (0, 0))[0]
        rows = sheet.iter_rows()
    except (CalamineError, OSError, ValueError) as error:
        raise ImportFileError(
            f"{file_name!r} cannot be opened as an Excel workbook: it may be damaged or cut short ({error})."
        ) from None
    for index, values in enumerate(rows):
        yield first_row + index + 1, [excel_cell_text(value) for value in values]


def excel_cell_text(value: object) -> str:
    """A cell as the text a person sees. Whole numbers lose their ".0": Excel keeps up to 15
    digits exactly, and phone numbers have at most 15, so this reads them as typed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value).upper() if abs(value) >= 1e15 else str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def count_data_rows(path: str, info: SheetInfo, file_name: str = "") -> int:
    """How many data rows the file has (one quick pass, no parsing of numbers)."""
    return sum(1 for _ in iter_rows(path, info, file_name))

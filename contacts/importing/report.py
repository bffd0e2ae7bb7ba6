"""The rejected rows of an import as a CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from contacts.models import ContactImport, ContactImportRejection

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def rejected_rows_csv(contact_import: ContactImport) -> Iterator[str]:
    """Every rejected row with its reason, then the cells as read, streamed line by line."""
    writer = csv.writer(_Echo())
    header = (contact_import.detected or {}).get("header", [])
    yield "\ufeff"  # a BOM so that Excel reads the file as UTF-8
    yield writer.writerow(["row", "reason", *[safe_cell(name) for name in header]])
    rejections = ContactImportRejection.objects.filter(contact_import=contact_import).order_by("row_number")
    for row_number, reason, values in rejections.values_list("row_number", "reason", "values").iterator(2000):
        yield writer.writerow([row_number, safe_cell(reason), *[safe_cell(value) for value in values or []]])


def write_rejected_rows(contact_import: ContactImport, path: str) -> int:
    """Write the report to a file (for the command line); returns how many rows it lists."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        for line in rejected_rows_csv(contact_import):
            out.write(line)
    return contact_import.rejections.count()

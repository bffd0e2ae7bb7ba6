"""The words for an import's outcome, shared by the admin pages and the command line."""

from __future__ import annotations

from contacts.models import ContactImport


def summary_lines(contact_import: ContactImport) -> list[tuple[str, int]]:
    """(label, count) for every count of the import, in the order staff read them."""
    lines = [
        ("Rows read", contact_import.rows_read),
        ("New contacts", contact_import.created),
    ]
    if contact_import.existing == ContactImport.Existing.UPDATE:
        lines.append(("Existing contacts updated", contact_import.updated))
    else:
        lines.append(("Existing contacts left as they were", contact_import.skipped_existing))
    lines += [
        ("Duplicates within the file (first row kept)", contact_import.duplicates),
        ("Invalid rows (not imported)", contact_import.invalid),
    ]
    return lines


def progress_line(contact_import: ContactImport) -> str:
    total = contact_import.rows_total or 0
    done = contact_import.rows_read
    percent = contact_import.percent
    bar = "#" * (percent * 30 // 100)
    return (
        f"[{bar:<30}] {percent:3d}%  {done:,}/{total:,} rows  new {contact_import.created:,}  "
        f"updated {contact_import.updated:,}  rejected {contact_import.rejected:,}"
    )

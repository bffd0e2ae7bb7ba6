# ruff: noqa: S608 - the SQL is built only from our own table names; every value is a parameter
"""Saving one chunk of parsed rows: contacts, list memberships and rejections, in set-based SQL.

The chunk goes into a temporary staging table (COPY on PostgreSQL, executemany elsewhere), then
three statements do the work whatever the chunk size: update the contacts we know (or only
record opt-outs, when staff chose to leave existing contacts as they are), insert the new ones
(ON CONFLICT DO NOTHING: a rerun never duplicates), and add all of them to the list. The caller
wraps a chunk in one transaction with the import's counts, so a chunk is saved whole or not at all.

Opt-outs go to the suppression list, by number, before anything else: a row that says opted out
puts its number there whatever its position (a later repeat of a number, rejected as a duplicate,
still brings its opt-out), and every contact of the chunk whose number is on the list then shows
opted out (a deleted contact re-imported comes back opted out). The file never lifts one.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from contacts.importing.rows import Contact, Rejection
from contacts.models import Contact as ContactModel
from contacts.models import ContactImport, ContactImportRejection, ListMembership, Suppression

STAGING = "contact_import_staging"
SEEN = "contact_import_seen"  # every number of the file so far, with the row that had it first


@dataclass
class ChunkCounts:
    created: int = 0
    updated: int = 0
    skipped_existing: int = 0


class ChunkWriter:
    """Writes chunks of one import; create it once per run (it creates the staging table)."""

    def __init__(self, contact_import: ContactImport) -> None:
        self.contact_import = contact_import
        self.postgres = connection.vendor == "postgresql"
        self.reason = f"Opted out in contact import #{contact_import.pk} ({contact_import.file_name})"[:200]
        self.contacts = ContactModel._meta.db_table
        self.memberships = ListMembership._meta.db_table
        self.suppression = Suppression._meta.db_table
        self._create_staging()

    def _create_staging(self) -> None:
        extra, when = ("jsonb", "timestamptz") if self.postgres else ("text", "text")
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} "
                f"(row_number integer, phone varchar(16), name varchar(200), extra {extra}, opted_out_at {when})"
            )
            # The numbers seen so far live in the database, not in the worker: a million of them
            # would be a hundred megabytes of Python objects. Temporary, so a new run starts empty.
            cursor.execute(f"DROP TABLE IF EXISTS {SEEN}")
            cursor.execute(f"CREATE TEMPORARY TABLE {SEEN} (phone varchar(16) PRIMARY KEY, row_number integer)")

    def remember(self, contacts: list[Contact]) -> None:
        """Note the numbers of rows an earlier run saved, so later rows repeating them are duplicates."""
        if contacts:
            self._stage(contacts)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {SEEN} (phone, row_number) SELECT phone, row_number FROM {STAGING} "
                    "WHERE true ON CONFLICT (phone) DO NOTHING"
                )

    def split_duplicates(self, contacts: list[Contact]) -> tuple[list[Contact], list[Rejection]]:
        """Stage a chunk (distinct numbers) and take out the rows whose number an earlier chunk had.

        Returns the chunk's contacts still staged and the duplicates as rejections.
        """
        if not contacts:
            return [], []
        self._stage(contacts)
        self._suppress_staged()  # before the duplicates leave the staging table: their opt-outs count
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT s.row_number, s.phone, x.row_number, s.opted_out_at IS NOT NULL "
                f"FROM {STAGING} AS s JOIN {SEEN} AS x ON x.phone = s.phone"
            )
            earlier = cursor.fetchall()
            if earlier:
                cursor.execute(f"DELETE FROM {STAGING} WHERE phone IN (SELECT phone FROM {SEEN})")
            cursor.execute(f"INSERT INTO {SEEN} (phone, row_number) SELECT phone, row_number FROM {STAGING}")
        repeated = {row for row, _phone, _first, _out in earlier}
        return [c for c in contacts if c[0] not in repeated], [
            duplicate_of(row, phone, first, bool(out)) for row, phone, first, out in earlier
        ]

    def write(self, contacts: list[Contact], rejections: list[Rejection]) -> ChunkCounts:
        """Save one chunk staged by split_duplicates (``contacts`` are what is left of it); call
        inside transaction.atomic() together with the import's counts."""
        counts = ChunkCounts()
        if contacts:
            counts = self._apply(len(contacts))
        if rejections:
            self._reject(rejections)
        return counts

    def _stage(self, contacts: list[Contact]) -> None:
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(f"TRUNCATE {STAGING}")
                copy_sql = f"COPY {STAGING} (row_number, phone, name, extra, opted_out_at) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for contact in contacts:
                        copy.write_row(contact)
                cursor.execute(f"ANALYZE {STAGING}")  # the planner then joins it by the phone index
            else:
                cursor.execute(f"DELETE FROM {STAGING}")
                cursor.executemany(
                    f"INSERT INTO {STAGING} (row_number, phone, name, extra, opted_out_at) VALUES (%s, %s, %s, %s, %s)",
                    [(*contact[:4], self._when(contact[4])) for contact in contacts],
                )

    def _when(self, iso: str | None) -> object:
        if iso is None:
            return None
        return connection.ops.adapt_datetimefield_value(datetime.datetime.fromisoformat(iso))

    def _suppress_staged(self) -> None:
        """Put the staged rows' opt-outs on the suppression list (a number already there keeps its
        first record), and show them on the contacts we already have."""
        user = self.contact_import.created_by
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.suppression} "
                "(number, suppressed_at, reason, source, channel, by_id, by_label) "
                f"SELECT phone, opted_out_at, %s, %s, '', %s, %s FROM {STAGING} "
                "WHERE opted_out_at IS NOT NULL ON CONFLICT (number) DO NOTHING",
                [
                    self.reason,
                    Suppression.Source.IMPORT,
                    user.pk if user else None,
                    user.get_username() if user else "",
                ],
            )
        self._mirror_suppressed()

    def _mirror_suppressed(self) -> None:
        """Staged numbers on the suppression list show opted out on their contacts (the list's time
        and reason), whatever the file says."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.contacts} AS c SET opted_out_at = x.suppressed_at, opt_out_reason = x.reason, "
                f"updated_at = %s FROM {self.suppression} AS x "
                f"WHERE x.number = c.phone AND c.opted_out_at IS NULL AND c.phone IN (SELECT phone FROM {STAGING})",
                [now],
            )

    def _apply(self, staged: int) -> ChunkCounts:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        merge = "c.extra_fields || s.extra" if self.postgres else "json_patch(c.extra_fields, s.extra)"
        counts = ChunkCounts()
        with connection.cursor() as cursor:
            if self.contact_import.existing == ContactImport.Existing.UPDATE:
                cursor.execute(
                    f"UPDATE {self.contacts} AS c SET "
                    "name = CASE WHEN s.name <> '' THEN s.name ELSE c.name END, "
                    f"extra_fields = {merge}, "
                    "updated_at = %s "
                    f"FROM {STAGING} AS s WHERE c.phone = s.phone",
                    [now],
                )
                counts.updated = cursor.rowcount
            # (leaving existing contacts as they are: their opt-outs went on the list already)
            cursor.execute(
                f"INSERT INTO {self.contacts} "
                "(phone, name, extra_fields, opted_out_at, opt_out_reason, created_at, updated_at) "
                "SELECT s.phone, s.name, s.extra, NULL, '', %s, %s "
                f"FROM {STAGING} AS s WHERE true ON CONFLICT (phone) DO NOTHING",
                [now, now],
            )
            counts.created = cursor.rowcount
        self._mirror_suppressed()  # the new contacts whose number is suppressed
        with connection.cursor() as cursor:
            if self.contact_import.existing != ContactImport.Existing.UPDATE:
                counts.skipped_existing = staged - counts.created
            if self.contact_import.target_list_id:
                cursor.execute(
                    f"INSERT INTO {self.memberships} (contact_list_id, contact_id, added_at) "
                    f"SELECT %s, c.id, %s FROM {STAGING} AS s JOIN {self.contacts} AS c ON c.phone = s.phone "
                    "WHERE true ON CONFLICT (contact_list_id, contact_id) DO NOTHING",
                    [self.contact_import.target_list_id, now],
                )
        return counts

    def _reject(self, rejections: list[Rejection]) -> None:
        import_id = self.contact_import.pk
        if self.postgres:
            table = ContactImportRejection._meta.db_table
            with connection.cursor() as cursor:
                with cursor.cursor.copy(
                    f'COPY {table} (contact_import_id, row_number, reason, "values") FROM STDIN'
                ) as copy:
                    for row_number, reason, cells in rejections:
                        copy.write_row((import_id, row_number, reason, _json_list(cells)))
            return
        ContactImportRejection.objects.bulk_create(
            ContactImportRejection(contact_import_id=import_id, row_number=row, reason=reason, values=cells)
            for row, reason, cells in rejections
        )


def duplicate_of(row: int, phone: str, first: int, opted_out: bool = False) -> Rejection:
    kept = f"row {first} kept, with this row's opt-out" if opted_out else f"row {first} kept"
    return (row, f"duplicate of row {first} (same number {phone}); {kept}", [])


def _json_list(cells: list[str]) -> str:
    return json.dumps(cells, ensure_ascii=False)

"""`python manage.py import_contacts FILE [--list NAME] [--region CC] [--update|--skip-existing]`."""

from __future__ import annotations

import os
import sys

import phonenumbers
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.importing import columns, engine
from contacts.importing.errors import ImportFileError
from contacts.importing.report import write_rejected_rows
from contacts.importing.summary import progress_line, summary_lines
from contacts.models import ContactImport, ContactList


class Command(BaseCommand):
    help = "Import contacts from a CSV, TSV or XLSX file, with the same rules and report as the admin's import."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .csv, .tsv, .txt or .xlsx file")
        parser.add_argument("--list", dest="list_name", help="add every imported contact to this list (made if new)")
        parser.add_argument(
            "--region",
            default=settings.DEFAULT_PHONE_REGION,
            help="country for numbers without a country code, e.g. KE or GB (default: DEFAULT_PHONE_REGION)",
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--update", dest="existing", action="store_const", const="update", help="update known numbers (default)"
        )
        existing.add_argument(
            "--skip-existing",
            dest="existing",
            action="store_const",
            const="skip",
            help="leave known numbers as they are",
        )
        parser.add_argument("--report", help="where to write the rejected rows (default: FILE.rejected.csv)")
        parser.add_argument(
            "--processes", type=int, default=None, help="processes parsing numbers (default: all cores)"
        )

    def handle(self, *args, file: str, list_name: str | None, region: str, existing: str | None, **options) -> None:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise CommandError(f"--region {region!r} is not a country code we know (use two letters, e.g. KE, GB, US).")
        if not os.path.isfile(file):
            raise CommandError(f"FILE {file!r} does not exist or is not a file.")
        contact_import = ContactImport(
            source="command line",
            file_name=os.path.basename(file),
            stored_path=os.path.abspath(file),
            file_size=os.path.getsize(file),
            region=region,
            existing=existing or ContactImport.Existing.UPDATE,
        )
        try:
            engine.open_import(contact_import)
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        problems = columns.mapping_problems(contact_import.mapping)
        if problems:
            raise CommandError(" ".join(problems))
        if list_name:
            contact_import.target_list, _ = ContactList.objects.get_or_create(name=list_name.strip())
        contact_import.state = ContactImport.State.QUEUED
        contact_import.save()
        self._describe(contact_import)
        try:
            engine.run(contact_import, progress=self._progress, processes=options["processes"])
        except Exception as error:
            sys.stderr.write("\n")
            raise CommandError(contact_import.error or str(error)) from error
        finally:
            self._finish(contact_import, options["report"] or f"{file}.rejected.csv")

    def _describe(self, contact_import: ContactImport) -> None:
        used = ", ".join(
            f"{entry['column']!r} -> {entry['role']}" for entry in contact_import.mapping if entry["role"] != "extra"
        )
        self.stdout.write(
            f"Import #{contact_import.pk}: {contact_import.file_name}, {contact_import.rows_total:,} rows"
        )
        self.stdout.write(f"Columns: {used}")
        for column, key in columns.renamed_extras(contact_import.mapping):
            self.stdout.write(f"  extra field {column!r} is the placeholder {{{{ {key} }}}}")

    def _progress(self, contact_import: ContactImport) -> None:
        sys.stderr.write("\r" + progress_line(contact_import))
        sys.stderr.flush()

    def _finish(self, contact_import: ContactImport, report_path: str) -> None:
        sys.stderr.write("\n")
        for label, count in summary_lines(contact_import):
            self.stdout.write(f"{label}: {count:,}")
        if contact_import.target_list_id:
            self.stdout.write(f"List: {contact_import.target_list.name}")
        if contact_import.rejected:
            written = write_rejected_rows(contact_import, report_path)
            self.stdout.write(f"Rejected rows ({written:,}) with their reasons: {report_path}")
        if contact_import.state == ContactImport.State.DONE:
            self.stdout.write(self.style.SUCCESS(f"Import #{contact_import.pk} done."))

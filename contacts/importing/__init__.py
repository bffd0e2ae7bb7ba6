"""Importing contacts from spreadsheets: one engine behind the admin, the RQ job and the command.

- reading: opens a CSV/TSV/XLSX file as a stream of rows (encoding, delimiter and kind detected).
- columns: recognises the columns (phone, name, ...) as a mapping staff can correct.
- rows: turns raw rows into contacts or rejections (no Django: it runs in worker processes).
- parallel: parses chunks of rows on every core.
- writing: saves a chunk (COPY on PostgreSQL, bulk statements elsewhere) with its counts.
- engine: preview and run, chunk after chunk, resumable after the last committed row.
- report: the rejected rows as a CSV safe to open in a spreadsheet.
"""

from contacts.importing.errors import ImportFileError

__all__ = ["ImportFileError"]

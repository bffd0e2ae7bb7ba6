"""One statement on a plain psycopg cursor of Django's connection, for the fast lane's hot statements.

Django's cursor wrapper binds parameters in Python (psycopg's ClientCursor) and wraps each call:
about a tenth of a millisecond of a redirect's or a callback's CPU, as much as the rest of the
statement (bench/clicks.py). This sends the parameters separately, as PostgreSQL takes them, on the
same connection, so it joins any transaction open on it, and keeps Django's bookkeeping: the
connection opened (and health-checked) as its cursor() would, and errors turned into Django's
(which marks the connection for a check once the request ends). Each statement is prepared
on its connection the first time it runs there: these are a few fixed texts run thousands of times
a second, and Django's connection prepares nothing by itself (psycopg's prepare_threshold is None),
so PostgreSQL would parse and plan each one every time (a redirect's statement cost it a quarter
more CPU, bench/clicks.py). Not recorded in connection.queries. PostgreSQL only: callers keep their
ORM path for SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


def execute(sql: str, params: Sequence, fetch_one: bool = False, row_count: bool = False) -> tuple | int | None:
    """Run ``sql`` (placeholders %s) with ``params``; its first row when ``fetch_one``, how many
    rows it wrote when ``row_count``."""
    database = connections[DEFAULT_DB_ALIAS]  # once: each use of the proxy looks it up again
    database.close_if_health_check_failed()
    database.ensure_connection()
    database.validate_no_broken_transaction()
    with database.wrap_database_errors, psycopg.Cursor(database.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        if row_count:
            return cursor.rowcount
        return cursor.fetchone() if fetch_one else None

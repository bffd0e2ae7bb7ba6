"""The least a tracked link's redirect can do and still log its click as the product does: one
prepared statement (the product's own FOLLOW_SQL: the link read and the click inserted, in one
round trip, committed durably) on a plain psycopg connection, and a 302 built by hand. No Django,
no middleware, no UTM parameters. bench/clicks.py runs it under the same gunicorn settings as the
product and the bare app, so its share of the bare app's rate shows what the durable click costs
by itself, whatever the code around it. ``BARE_REDIRECT_COMMIT=off`` runs the same with
PostgreSQL's asynchronous commit (a click answered could then be lost if the database server
crashed within a fraction of a second): what the commit's wait costs.

No run() here: this module is a helper, not a bench.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import psycopg

LINK = re.compile(r"/l/([0-9A-Za-z]{8})")
_connection: psycopg.Connection | None = None


def follow_sql() -> str:
    """The product's statement, with psycopg's placeholders (it is Django's %s style already)."""
    from campaigns.links.redirect import FOLLOW_SQL

    return FOLLOW_SQL


def connection() -> psycopg.Connection:
    global _connection  # noqa: PLW0603 - one connection a worker process, as the product keeps one
    if _connection is None:
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
        if os.environ.get("BARE_REDIRECT_COMMIT") == "off":
            _connection.execute("SET synchronous_commit = off")
    return _connection


import django  # noqa: E402 - the product's statement needs its models' table names

django.setup()
SQL = follow_sql()


def application(environ: dict, start_response) -> list[bytes]:
    found = LINK.fullmatch(environ.get("PATH_INFO", ""))
    if found is None:  # gunicorn's readiness probe, and anything else
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"OK"]
    now = datetime.now(UTC)
    with connection().cursor() as cursor:
        cursor.execute(SQL, [found[1], now, now, True], prepare=True)
        row = cursor.fetchone()
    if row is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("302 Found", [("Location", row[0]), ("Content-Length", "0"), ("Cache-Control", "no-store")])
    return [b""]

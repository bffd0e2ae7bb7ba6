"""The API's rows of the receipts bench alone (issue 17), for a quick look at the API:
POST /message and GET /message/<id> each beside the bare WSGI app under the same production
gunicorn (4 workers, PostgreSQL, DEBUG off), and a 10,000-recipient POST /messages/bulk answer.

`make bench ARGS=receipts` measures the same rows after the callbacks and the million-receipt
backlog; this takes a minute. Targets as there: each rate at least 0.50 of the bare app's, the
bulk answer in 0.5 s or less.
"""

from __future__ import annotations

from bench import receipts
from bench.api_server import api_under_gunicorn
from bench.receipts import WORKERS, api_rows, bare_app


def run() -> list[dict]:
    with api_under_gunicorn(WORKERS, production=True) as api, bare_app() as bare:
        return api_rows(api, bare)


def unavailable() -> str | None:
    return receipts.unavailable()  # the same needs: PostgreSQL

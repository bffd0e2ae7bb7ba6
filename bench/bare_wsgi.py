"""The least a WSGI app can do: read the request's body and answer 200. The receipts bench runs it
under the same gunicorn settings as the product, so the product's figures read as a share of what
gunicorn itself, the kernel and the load generator allow on this machine.

No run() here: this module is a helper, not a bench.
"""

from __future__ import annotations


def application(environ: dict, start_response) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"OK"]

"""gunicorn's settings for production (README): `gunicorn messaging_site.wsgi -c python:messaging_site.gunicorn_conf`.

It writes an access log to standard output in gunicorn's usual format, through a logger class
that redacts each line as our own log lines are (providers/redaction.py): a Gupshup, sendbulk or
Twilio callback's address carries its channel's token, and whoever reads it could forge callbacks.
Flags on the command line (-w, -b, --access-logfile FILE...) still win over these.
"""

from __future__ import annotations

import logging

from gunicorn.glogging import Logger

from providers.redaction import redact

accesslog = "-"
logger_class = "messaging_site.gunicorn_conf.RedactingLogger"


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, its access and error lines redacted (the error log quotes request paths)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, _Redact) for f in log.filters):
                log.addFilter(_Redact())

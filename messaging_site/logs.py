"""Log lines that a log search can filter: fields after the message, as key=value text or JSON.

``LOG_FORMAT=text`` (the default) writes ``time LEVEL logger message key=value ...``; ``json``
writes one object a line with the same keys. Fields come from ``extra={"fields": {...}}``; jobs get
theirs from ``logged_job`` (start, end and failure lines carrying campaign, claim, channel, counts
and duration). Every line passes through the providers' redaction on its way out, so a credential
that reached a message by accident (an exception quoting a request) is hidden there too.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.views.debug import ExceptionReporter

# Attributes every LogRecord has: anything else on a record came from ``extra`` and is a field.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class FieldsFormatter(logging.Formatter):
    """The message, then its fields; text or JSON (LOG_FORMAT). Secrets are redacted last."""

    def __init__(self, json_lines: bool = False, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s"), **kwargs)
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        text = self._json(record, fields) if self.json_lines else self._text(record, fields)
        return redacted(text)

    def _text(self, record: logging.LogRecord, fields: dict[str, Any]) -> str:
        line = super().format(record)  # message, then any traceback on the lines below
        head, newline, traceback = line.partition("\n")
        pairs = " ".join(f"{key}={text_value(value)}" for key, value in fields.items())
        return f"{head} {pairs}{newline}{traceback}" if pairs else line

    def _json(self, record: logging.LogRecord, fields: dict[str, Any]) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields,
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    for key, value in vars(record).items():  # extra={"campaign": 3} works as well as fields=
        if key not in _RECORD_ATTRIBUTES and key != "fields" and not key.startswith("_"):
            fields.setdefault(key, value)
    return fields


def text_value(value: Any) -> str:
    """A value as key=value text: bare when it has no space, quote or equals sign, else JSON-quoted."""
    if isinstance(value, float):
        value = round(value, 3)
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


def redacted(text: str) -> str:
    from providers.redaction import redact  # the one redaction rule (credentials, webhook tokens)

    return redact(text)


class RedactSecrets(logging.Filter):
    """For handlers with a formatter of their own (the development server's request lines, error
    e-mails): the record's message is rendered and redacted before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redacted(record.getMessage())
        record.args = None
        return True


class RedactedExceptionReporter(ExceptionReporter):
    """Error reports (the e-mails to ADMINS, the DEBUG error page) with the request's path, headers
    and traceback redacted: a webhook's address carries its channel's token."""

    def get_traceback_text(self) -> str:
        return redacted(super().get_traceback_text())

    def get_traceback_html(self) -> str:
        return redacted(super().get_traceback_html())


# --- jobs -----------------------------------------------------------------------------------------


@contextmanager
def job_log(logger: logging.Logger, name: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log "<name> started", then "<name> finished" with what the block put in the yielded dict
    (counts) and the duration; or "<name> failed" with the error and traceback, re-raising it."""
    fields = {"job": name, **_rq_job(), **{k: v for k, v in fields.items() if v is not None}}
    started = time.monotonic()
    logger.info("%s started", name, extra={"fields": fields})
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    except Exception as error:
        took = {"duration_ms": _since(started), "error": type(error).__name__}
        logger.exception("%s failed", name, extra={"fields": {**fields, **outcome, **took}})
        raise
    logger.info("%s finished", name, extra={"fields": {**fields, **outcome, "duration_ms": _since(started)}})


def logged_job(name: str, describe: Callable[..., Mapping[str, Any]] | None = None) -> Callable:
    """Decorate a job so that each run logs start, end and failure lines (see ``job_log``).

    ``describe`` turns the job's arguments into fields (campaign id...); a dict the job returns
    is logged as its counts, a number as ``count``.
    """

    def decorate(func: Callable) -> Callable:
        logger = logging.getLogger(func.__module__)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            fields = dict(describe(*args, **kwargs)) if describe else {}
            with job_log(logger, name, **fields) as outcome:
                result = func(*args, **kwargs)
                if isinstance(result, Mapping):
                    outcome.update(result)
                elif isinstance(result, int) and not isinstance(result, bool):
                    outcome["count"] = result
            return result

        return run

    return decorate


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _rq_job() -> dict[str, str]:
    """The RQ job id, when running inside one (to find the job in django-rq's pages)."""
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker there is simply no job
        return {}
    return {"rq_job": job.id} if job is not None else {}

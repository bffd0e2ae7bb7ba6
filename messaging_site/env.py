"""Typed readers for settings that come from the environment.

Every reader is strict: a value that cannot be understood raises ImproperlyConfigured naming the
variable and the value, so a typo stops the start instead of quietly falling back to a default.
Secrets can also be read from a file named by ``<NAME>_FILE`` (Docker and systemd credentials).

A checkout also reads its local settings file (var/local.env, written by the first `make run`), so
`python manage.py ...` works after `make run` without typing DEBUG or SECRET_KEY; real environment
variables always win over it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


LOCAL_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def load_local_env(path: Path) -> list[str]:
    """Put the NAME=value lines of ``path`` into os.environ where the name is not set already.

    Returns the names it set. A missing file is fine (a server configured by its environment
    has none); a line that is not NAME=value stops the start, naming the file and the line.
    """
    if not path.is_file():
        return []
    loaded = []
    for number, raw_line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not LOCAL_ENV_NAME.match(name):
            raise ImproperlyConfigured(f"{path} line {number}: {line[:60]!r} is not NAME=value.")
        if name not in os.environ:
            os.environ[name] = value.strip()
            loaded.append(name)
    return loaded


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def bad(name: str, value: str, expected: str) -> ImproperlyConfigured:
    shown = redact_url(value)
    return ImproperlyConfigured(f"Environment variable {name}={shown!r} is not valid: expected {expected}.")


def redact_url(value: str) -> str:
    """Hide the password of a URL such as postgres://user:secret@host/db before showing it."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", value)


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE."""
    file_name = _raw(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        if not path.is_file():
            raise bad(f"{name}_FILE", file_name, "the path of a readable file")
        return path.read_text().strip()
    return env_str(name, default)


def env_fernet_keys(name: str) -> list[str]:
    """Fernet keys from NAME (or the file named by NAME_FILE), comma-separated, newest first.

    A key that is not a Fernet key stops the start; the message says which one by its place in
    the list, never its value (it is a secret).
    """
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in env_secret(name).split(",") if key.strip()]
    for place, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"Environment variable {name}: key {place} of {len(keys)} is not a Fernet key (expected 44 "
                "characters of URL-safe base64, as Fernet.generate_key() makes; the value is not shown)."
            ) from None
    return keys


def development_credentials_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY, for a DEBUG checkout that has no CREDENTIALS_KEY of its own."""
    digest = hashlib.sha256(b"messaging credentials key for DEBUG only:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise bad(name, value, "one of true/false, yes/no, on/off, 1/0")


def env_file(name: str) -> str:
    """The path of an existing, readable file named by NAME, or "" when NAME is unset."""
    value = env_str(name)
    if value and not (Path(value).is_file() and os.access(value, os.R_OK)):
        raise bad(name, value, "the path of a readable file")
    return value


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad(name, value, "a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise bad(name, value, f"a whole number from {minimum} to {maximum}")
    return number


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise bad(name, value, "a number") from None
    if math.isnan(number) or number < minimum:
        raise bad(name, value, f"a number of at least {minimum}")
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).upper()
    if value not in choices:
        raise bad(name, value, f"one of {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str = "", schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = env_str(name, default)
    if not value:
        return value
    parts = urlsplit(value)
    located = parts.path if parts.scheme == "unix" else parts.netloc
    if parts.scheme not in schemes or not located:
        raise bad(name, value, f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/")


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad(name, value, "an IANA time zone name such as Europe/London") from None
    return value


def env_database(name: str, default_sqlite_path: Path) -> dict:
    """DATABASE_URL parsed by dj-database-url; unset means SQLite in the data folder."""
    import dj_database_url

    value = env_str(name)
    if not value:
        default_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(default_sqlite_path),
            # WAL lets the web server read while a worker writes; the timeout makes a writer wait
            # for the lock; IMMEDIATE transactions take the write lock up front, because a read
            # transaction that later writes fails at once ("database is locked") when another
            # process wrote in between, whatever the timeout.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    try:
        # Persistent connections (DATABASE_CONN_MAX_AGE seconds) for one-request-at-a-time processes
        # (gunicorn's workers, RQ); `make run` sets 0 for its threaded development server.
        max_age = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=86_400)
        config = dj_database_url.parse(value, conn_max_age=max_age, conn_health_checks=max_age > 0)
    except ValueError:
        raise bad(name, value, "a URL such as postgres://user@127.0.0.1:5432/messaging or sqlite:///path") from None
    if not config.get("NAME"):
        raise bad(name, value, "a URL that names the database")
    return config

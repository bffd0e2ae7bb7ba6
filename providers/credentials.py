"""Channels' credentials, encrypted at rest with Fernet (the ``cryptography`` package).

The keys are settings.CREDENTIALS_KEYS (the environment's CREDENTIALS_KEY, comma-separated, newest
first). The newest encrypts; every key decrypts (MultiFernet), so a key is rotated by putting a new
one first, running ``manage.py rotate_credentials_key``, then dropping the old one.

The database, its dumps and ``dumpdata`` hold only the Fernet token: the column is text that
reads ``gAAAA...``. In Python the field is a plain dict, as the JSONField it replaced was.
"""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class CredentialsUnreadable(ImproperlyConfigured):
    """Stored credentials that none of the configured keys can decrypt."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def keys() -> MultiFernet:
    configured = tuple(settings.CREDENTIALS_KEYS)
    if not configured:
        raise ImproperlyConfigured("Environment variable CREDENTIALS_KEY is required to read or store credentials.")
    return _fernet(configured)


def encrypt(value: dict) -> str:
    """The Fernet token of a credentials dict, under the newest key."""
    plain = json.dumps(value or {}, sort_keys=True, separators=(",", ":"))
    return keys().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str | None) -> dict:
    """The credentials dict in a Fernet token ({} for an empty column)."""
    if not token:
        return {}
    try:
        plain = keys().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise CredentialsUnreadable(
            "Stored channel credentials cannot be decrypted with any key in CREDENTIALS_KEY: was the key "
            "replaced? Put the old key after the new one (comma-separated) and run "
            "`python manage.py rotate_credentials_key`."
        ) from None
    value = json.loads(plain)
    return value if isinstance(value, dict) else {}


def rotate(token: str) -> str:
    """The same credentials, encrypted again under the newest key."""
    try:
        return keys().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise CredentialsUnreadable("No key in CREDENTIALS_KEY decrypts these credentials.") from None


class EncryptedJSONField(models.TextField):
    """A dict of text values kept as a Fernet token: ciphertext in the database and in every dump.

    Never filter on it: each save encrypts afresh (a new IV), so equal dicts give different tokens.
    """

    description = "A JSON object encrypted with Fernet"

    def from_db_value(self, value, expression, connection) -> dict:
        return decrypt(value)

    def to_python(self, value) -> dict:
        # A dict from code, or a token from a fixture (loaddata reads what dumpdata wrote).
        if isinstance(value, dict):
            return value
        return decrypt(value)

    def get_prep_value(self, value) -> str:
        return encrypt(value if isinstance(value, dict) else self.to_python(value))

    def value_to_string(self, obj) -> str:
        """What dumpdata writes: the token, never the credentials."""
        return encrypt(self.value_from_object(obj))

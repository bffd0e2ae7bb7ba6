"""Channels' credentials, encrypted at rest with Fernet (the ``cryptography`` package).

The keys are settings.CREDENTIALS_KEYS (the environment's CREDENTIALS_KEY, comma-separated, newest
first). The newest encrypts; every key decrypts (MultiFernet), so a key is rotated by putting a new
one first, running ``manage.py rotate_credentials_key``, then dropping the old one.

The database, its dumps and ``dumpdata`` hold only the Fernet token: the column is text that
reads ``gAAAA...``. In Python the field is a plain dict, as the JSONField it replaced was. A
channel's webhook token (the secret in its callback URLs) is encrypted the same way, and found by
its SHA-256 hash.
"""

from __future__ import annotations

import hashlib
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
    return encrypt_text(json.dumps(value or {}, sort_keys=True, separators=(",", ":")))


def decrypt(token: str | None) -> dict:
    """The credentials dict in a Fernet token ({} for an empty column)."""
    if not token:
        return {}
    value = json.loads(decrypt_text(token))
    return value if isinstance(value, dict) else {}


def encrypt_text(plain: str) -> str:
    return keys().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_text(token: str | None) -> str:
    if not token:
        return ""
    try:
        return keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise CredentialsUnreadable(
            "Stored channel secrets cannot be decrypted with any key in CREDENTIALS_KEY: was the key "
            "replaced? Put the old key after the new one (comma-separated) and run "
            "`python manage.py rotate_credentials_key`."
        ) from None


def lookup_hash(secret: str) -> str:
    """What a secret is found by (a webhook token in a URL): SHA-256, so the database holds no usable copy."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def rotate(token: str) -> str:
    """The same credentials, encrypted again under the newest key."""
    if not token:
        return token or ""  # an empty column reads as empty under any key
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


class EncryptedTextField(models.TextField):
    """A secret text kept as a Fernet token (a channel's webhook token). Never filter on it: find
    rows by a hash kept beside it (``lookup_hash``)."""

    description = "Text encrypted with Fernet"

    def from_db_value(self, value, expression, connection) -> str:
        return decrypt_text(value)

    def to_python(self, value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str) and value.startswith("gAAAA"):
            return decrypt_text(value)  # a token from a fixture (loaddata reads what dumpdata wrote)
        return str(value)

    def get_prep_value(self, value) -> str:
        return encrypt_text(str(value or ""))

    def value_to_string(self, obj) -> str:
        return encrypt_text(str(self.value_from_object(obj) or ""))

"""What a log line must never show: credentials, and the tokens in our webhook addresses.

Standard library only, so gunicorn's logger class can use it before Django is set up.

- A value named like a credential (``auth_token``, ``api_key``, ``apikey``, ``key``, ``password``,
  ``secret``, ``token``, ``authorization``...), after ``=`` or ``:``: form bodies, query strings,
  headers, JSON and Python dicts, and JSON that sits quoted inside a JSON log line.
- ``Bearer ...`` and ``Basic ...`` credentials wherever they appear.
- The token in a webhook address (``/webhooks/<provider>/<token>/...``), plain or URL-encoded
  (a Twilio request body carries its status callback address): whoever has it can forge callbacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HIDDEN = "***"

# Names whose value is a credential. "key" alone only as a whole name (not "channel_key").
_NAME = r"(?:api[_-]?key|auth[_-]?token|access[_-]?token|password|passwd|pass|secret|token|authorization|(?<![\w-])key)"
# Quoted as \"...\" (JSON inside a JSON line), "..." or '...' (with any spaces), or bare up to a separator.
_VALUE = (
    r"""(?P<value>\\"(?:(?!\\").)*\\"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
    r"""|(?P<scheme>(?:basic|bearer|digest)\s+)?[^'"&,;\s}\]\\]+)"""
)
CREDENTIAL_VALUE = re.compile(rf"""(?i)(?P<name>{_NAME}(?:\\?['"])?\s*[:=]\s*){_VALUE}""")
# "Bearer <token>" and "Basic <base64>" outside a named field (a header as a tuple, say); the token
# must hold a digit or a sign, so that prose such as "Basic authentication failed" stays readable.
SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+(?=[\w.~+/=-]*[\d.~+/=-])[\w.~+/-]{8,}=*")
# /webhooks/<provider>/<token>/ as in providers/urls.py, or URL-encoded (%2F).
WEBHOOK_TOKEN = re.compile(r"(?i)((?:/|%2F)webhooks(?:/|%2F)[\w-]+(?:/|%2F))[\w-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secret values and everything credential-looking hidden."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    text = CREDENTIAL_VALUE.sub(_hidden_value, text)
    text = SCHEME_CREDENTIAL.sub(rf"\1 {HIDDEN}", text)
    return WEBHOOK_TOKEN.sub(rf"\1{HIDDEN}", text)


def _hidden_value(match: re.Match) -> str:
    """Keep the name, the quotes and an authorization scheme: only the secret itself goes."""
    value = match["value"]
    if value.startswith('\\"'):
        hidden = f'\\"{HIDDEN}\\"'
    elif value[0] in "\"'":
        hidden = f"{value[0]}{HIDDEN}{value[0]}"
    else:
        hidden = f"{match['scheme'] or ''}{HIDDEN}"
    return f"{match['name']}{hidden}"

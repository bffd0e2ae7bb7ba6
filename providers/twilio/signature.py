"""X-Twilio-Signature, computed exactly as Twilio computes it.

Twilio signs each webhook request with the account's auth token: base64(HMAC-SHA1(token, URL +
each POST parameter sorted by name, name then value)). The URL is the one Twilio called, query
string included, so behind a reverse proxy we must rebuild it from the configured public base URL.
Used by our webhooks to check Twilio, and by the local fake to sign its callbacks.

No Django here: the fake runs as a plain script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}

Params = Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]]


def compute_signature(auth_token: str, url: str, params: Params = ()) -> str:
    """The X-Twilio-Signature value for a POST of ``params`` to ``url``."""
    payload = url + "".join(name + value for name, value in _sorted_pairs(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def is_valid_signature(auth_token: str, url: str, params: Params, signature: str) -> bool:
    """True when ``signature`` is Twilio's for this URL and these parameters.

    Twilio's own validators accept the URL with and without the scheme's default port, because
    which of the two Twilio signed depends on how the webhook address was written; we do the same.
    Every comparison is constant-time.
    """
    if not (auth_token and signature):
        return False
    pairs = _sorted_pairs(params)
    candidates = {url, _with_default_port(url), _without_default_port(url)}
    # No early exit: every candidate is compared, so the time taken does not depend on which matched.
    matches = [hmac.compare_digest(compute_signature(auth_token, url, pairs), signature) for url in candidates]
    return any(matches)


def _sorted_pairs(params: Params) -> list[tuple[str, str]]:
    """(name, value) pairs by name, then value; a repeated identical pair counts once, as at Twilio."""
    if isinstance(params, Mapping):
        pairs = []
        for name, value in params.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((name, v) for v in values)
    else:
        pairs = list(params)
    return sorted(set(pairs))


def _with_default_port(url: str) -> str:
    parts = urlsplit(url)
    port = DEFAULT_PORTS.get(parts.scheme)
    if parts.port is not None or port is None or not parts.hostname:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    host = f"{netloc[-1]}:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def _without_default_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is None or parts.port != DEFAULT_PORTS.get(parts.scheme):
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))

"""The address a request came from, with or without reverse proxies in front of us.

TRUSTED_PROXY_COUNT says how many proxies of ours the request passes through. Each appends the
address it received the request from to X-Forwarded-For, so the client's address is the entry that
many places from the end; the entries before it are whatever the client wrote, and are never read.
With no proxy (0, the default unless BEHIND_PROXY) X-Forwarded-For is ignored: REMOTE_ADDR is the
client. Used by the sign-in lockout and by the callback allow-lists of Gupshup and sendbulk channels.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address, or None when the request did not come the way the settings say
    (fewer X-Forwarded-For entries than trusted proxies, or an entry that is not an address)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies == 0:
        return _address(request.META.get("REMOTE_ADDR", ""))
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return None
    return _address(forwarded[-proxies])


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None

"""Where events may be sent: http(s) addresses on the public internet (no server-side request forgery).

An endpoint or status_callback URL naming, or resolving to, a loopback, private, link-local or
otherwise reserved address would let whoever registers it make our workers call our own network
(a metadata service, an admin port). Such a URL is refused when registered and again before each
delivery (its name may resolve elsewhere by then), unless WEBHOOK_ALLOW_PRIVATE_URLS is on (the
demo and the tests, whose receivers listen on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from providers.destinations import api_url_problem


def url_problem(url: str) -> str:
    """Why events cannot go to ``url``, or "" when they can."""
    if len(url) > 500:
        return "it is longer than 500 characters"
    problem = api_url_problem(url)
    if problem:
        return problem
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return ""
    return private_address_problem(urlsplit(url).hostname or "")


def private_address_problem(host: str) -> str:
    """Why ``host`` is not a public address (it or any address its name resolves to), or ""."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return f"its host {host!r} does not resolve"
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return (
                f"its host {host!r} is (or resolves to) {ip}, a loopback, private or reserved address "
                "(WEBHOOK_ALLOW_PRIVATE_URLS allows that)"
            )
    return ""

"""Where a channel's credentials may go: http(s) addresses only, and only the ones they were entered for.

An administrator who could point ``api_base_url`` anywhere after the credentials were entered
could have them sent to a listener of their own ("check credentials" would post them there). So a
channel remembers the origins (scheme, host and port) its credentials were entered for, and a
provider refuses to send them to any other; changing the address means typing them again.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

DEFAULT_PORTS = {"http": 80, "https": 443}


def api_url_problem(value: str) -> str:
    """Why ``value`` cannot be an API address, or "" when it can."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        return f"it cannot be read as a URL ({error})"
    problems = [
        (parts.scheme.lower() not in DEFAULT_PORTS, "only http:// and https:// addresses are accepted"),
        (not parts.hostname, "it names no host"),
        (
            parts.username is not None or parts.password is not None,
            "credentials go in the channel's credential fields, not in the address",
        ),
        (
            port == 0 or _link_local(parts.hostname or ""),
            "port 0 and link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services) are refused",
        ),
        (not _well_formed(value), "it is not a well-formed URL"),
    ]
    return next((problem for wrong, problem in problems if wrong), "")


def _well_formed(value: str) -> bool:
    try:
        URLValidator(schemes=list(DEFAULT_PORTS))(value)
    except ValidationError:
        return False
    return True


def _link_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_link_local
    except ValueError:
        return False


def check_api_url(value: str, field: str = "api_base_url") -> None:
    """Raise ValidationError naming ``field`` and the value when it is not an http(s) API address."""
    problem = api_url_problem(value) if value else ""
    if problem:
        raise ValidationError(f"{field}: {value[:200]!r} is not accepted: {problem}.", code="api_url")


def validate_api_base_url(value: str) -> None:
    check_api_url(value, "api_base_url")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lowercased, without the scheme's default port."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = parts.port
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origins_of(urls: list[str]) -> list[str]:
    return sorted({origin_of(url) for url in urls if url})

"""A campaign's UTM parameters, added to each tracked link's address on a click."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

UTM_PAIR = re.compile(r"utm_[a-z_]{1,40}=[^&=#\s]{1,100}")


def utm_problem(value: str) -> str | None:
    """Why ``value`` is not a list of utm_name=value pairs joined by &, or None if it is."""
    for pair in value.split("&") if value else []:
        if not UTM_PAIR.fullmatch(pair):
            return (
                f"UTM parameters: “{pair[:60]}” in “{value[:100]}” is not a utm_name=value pair "
                "(e.g. utm_source=sms&utm_campaign=spring)."
            )
    return None


def with_utm(url: str, utm: str) -> str:
    """``url`` with the UTM parameters added to its query (before any #fragment); a parameter the
    address already names is left as the address has it."""
    if not utm:
        return url
    if "#" not in url and "utm_" not in url and url[-1] not in "?&":
        return f"{url}{'&' if '?' in url else '?'}{utm}"  # as below, without parsing it: most addresses
    parts = urlsplit(url)
    present = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = "&".join(pair for pair in utm.split("&") if pair.split("=", 1)[0] not in present)
    if not added:
        return url
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))

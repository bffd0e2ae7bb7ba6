"""The regular expressions the API checks its strings with, shared with the OpenAPI document.

Each is applied as JSON Schema validators (ECMA 262 regular expressions) apply a "pattern": a
search, unanchored unless the pattern anchors itself, where a closing $ is the end of the string
(Python's $ would also allow a final newline). So a string the document allows is a string the
server accepts, and the other way round. No pattern uses \\d, \\w or \\s, which Python and ECMA
read differently: [0-9] and explicit ranges instead.
"""

from __future__ import annotations

import re
from functools import cache

NO_NUL = r"^[^\u0000]*$"  # PostgreSQL refuses NUL in text; lone surrogates are refused as not UTF-8
CHANNEL_KEY = r"^[A-Za-z0-9_-]{1,64}$"
CONTENT_SID = r"^HX[0-9a-fA-F]{32}$"
TEMPLATE_ID = r"^[A-Za-z0-9_.:-]{1,100}$"
POSITION = r"^[1-9][0-9]{0,2}$"
PLACEHOLDER_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ROW_ID = r"^[1-9][0-9]{0,17}$"  # an id sent as a string; 18 digits stay below the database's limit
# http(s) with a host name and a top-level domain (what a provider can fetch), then anything but
# spaces and control characters.
URL = (
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?::[0-9]{1,5})?(?:[/?#][^\u0000-\u0020\u007f]*)?$"
)
# Where a request's events go (status_callback): http(s), a host name or an IPv4 address (loopback
# ones too, for a receiver a setting allows), then anything but spaces and control characters.
# Whether the address is allowed (public, resolvable) is the server's question, answered 403.
CALLBACK_URL = r"^https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?(?:[/?#][^\u0000-\u0020\u007f]*)?$"
# E.164's shape: a country code and number, at most 15 digits, + optional. Whether such a number
# exists in its country's numbering plan is the server's question (phonenumbers), answered 404.
PHONE_NUMBER = r"^\+?[1-9][0-9]{6,14}$"


# Text that is not only spaces and control characters (what an SMS gateway takes as text).
NOT_BLANK = r"^[^\u0000]*[^\u0000-\u0020][^\u0000]*$"


@cache
def compiled(pattern: str) -> re.Pattern[str]:
    """The pattern under ECMA's reading: a closing $ is the very end of the string."""
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def matches(pattern: str, value: str) -> bool:
    return compiled(pattern).search(value) is not None

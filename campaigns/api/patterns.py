"""The regular expressions the API checks its strings with, shared with the OpenAPI document.

Each is applied exactly as JSON Schema applies a "pattern" (Python's re.search, unanchored unless
the pattern anchors itself), so a string the document allows is a string the server accepts, and
the other way round. No pattern relies on re.ASCII: [0-9] rather than \\d, which would also
match other scripts' digits.
"""

from __future__ import annotations

import re
from functools import cache

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

NO_NUL = r"^[^\u0000]*$"  # PostgreSQL refuses NUL in text; lone surrogates are refused as not UTF-8
CHANNEL_KEY = r"^[A-Za-z0-9_-]{1,64}$"
CONTENT_SID = r"^HX[0-9a-fA-F]{32}$"
TEMPLATE_ID = r"^[A-Za-z0-9_.:-]{1,100}$"
POSITION = r"^[1-9][0-9]{0,2}$"
PLACEHOLDER_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ROW_ID = r"^[1-9][0-9]{0,17}$"  # an id sent as a string; 18 digits stay below the database's limit
# http(s) with a host name and a top-level domain (what a provider can fetch), then anything but
# spaces: every such URL also passes Django's URLValidator.
URL = (
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(?::[0-9]{1,5})?(?:[/?#][^\s\u0000]*)?$"
)
# The kinds of number phonenumbers calls valid: a number matching one is valid for its country.
NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@cache
def phone_number() -> str:
    """A valid international number, + optional: country code, then a national number matching one
    of that country's number types, from the phonenumbers metadata the rest of the project uses."""
    countries = []
    for country_code, regions in sorted(COUNTRY_CODE_TO_REGION_CODE.items()):
        national = []
        for region in regions:
            if region == "001":
                metadata = PhoneMetadata.metadata_for_nongeo_region(country_code)
            else:
                metadata = PhoneMetadata.metadata_for_region(region)
            for kind in NUMBER_TYPES if metadata else ():
                desc = getattr(metadata, kind)
                if desc is not None and desc.national_number_pattern:
                    national.append(desc.national_number_pattern)
        if national:
            countries.append(f"{country_code}(?:{'|'.join(dict.fromkeys(national))})")
    return (r"^\+?(?:" + "|".join(countries) + r")$").replace(r"\d", "[0-9]")


@cache
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def matches(pattern: str, value: str) -> bool:
    return compiled(pattern).search(value) is not None

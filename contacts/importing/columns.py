"""What each column of a file becomes: recognised by common names, corrected by staff.

A mapping is a list with one entry per column of the file, in order:
``{"column": "Phone 1 - Value", "role": "phone", "key": ""}``. Roles are below; an ``extra``
column is kept as a placeholder value under ``key`` (a name templates can use: {{ key }}).
"""

from __future__ import annotations

import re
import unicodedata

PHONE, NAME, FIRST_NAME, LAST_NAME, OPTED_OUT_AT, EXTRA, IGNORE = (
    "phone",
    "name",
    "first_name",
    "last_name",
    "opted_out_at",
    "extra",
    "ignore",
)
ROLES = {
    PHONE: "Phone number",
    NAME: "Name",
    FIRST_NAME: "First name",
    LAST_NAME: "Last name",
    OPTED_OUT_AT: "Opted out (a date or yes: opts out, never in)",
    EXTRA: "Extra field (a placeholder for messages)",
    IGNORE: "Leave out",
}
SINGLE_ROLES = (PHONE, NAME, FIRST_NAME, LAST_NAME, OPTED_OUT_AT)

# Header names (lower case, punctuation as spaces) that we recognise, by role.
ALIASES = {
    PHONE: {
        "phone",
        "phone number",
        "phonenumber",
        "phone no",
        "mobile",
        "mobile number",
        "mobile phone",
        "mobile no",
        "cell",
        "cell phone",
        "cellphone",
        "number",
        "to",
        "msisdn",
        "telephone",
        "tel",
        "whatsapp",
        "whatsapp number",
        "contact number",
        "phone 1 value",
        "primary phone",
        "e164",
    },
    NAME: {"name", "full name", "fullname", "contact name", "display name", "customer name"},
    FIRST_NAME: {"first name", "firstname", "given name", "forename", "first"},
    LAST_NAME: {"last name", "lastname", "surname", "family name", "last"},
    OPTED_OUT_AT: {"opted out at", "opted out", "opt out", "optout", "unsubscribed", "unsubscribed at", "opted out on"},
}
RESERVED_KEYS = {"phone", "name"}  # placeholders the contact itself fills


def header_words(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def placeholder_key(header: str, position: int) -> str:
    """A name usable as {{ key }}: lower case letters, digits and underscores, not starting with a digit."""
    ascii_header = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()  # città -> citta
    key = re.sub(r"[^a-z0-9]+", "_", ascii_header.lower()).strip("_")
    if not key:
        return f"column_{position + 1}"
    if key[0].isdigit():
        key = f"field_{key}"
    return key


def guess_mapping(header: list[str]) -> list[dict]:
    """The mapping we propose: the first column matching each role takes it, the rest are extras."""
    taken: set[str] = set()
    mapping = []
    for column in header:
        words = header_words(column)
        role = next((r for r in SINGLE_ROLES if r not in taken and words in ALIASES[r]), EXTRA)
        if role != EXTRA:
            taken.add(role)
        mapping.append({"column": column, "role": role, "key": ""})
    if NAME in taken:  # a full name wins over first + last: those stay as extra fields
        for entry in mapping:
            if entry["role"] in (FIRST_NAME, LAST_NAME):
                entry["role"] = EXTRA
    return with_keys(mapping)


def with_keys(mapping: list[dict]) -> list[dict]:
    """Give every extra column a distinct placeholder key (``city``, ``city_2``...)."""
    used = set(RESERVED_KEYS)
    result = []
    for position, given in enumerate(mapping):
        entry = {**given, "key": ""}
        if entry["role"] == EXTRA:
            base = placeholder_key(entry["column"], position)
            key, suffix = base, 2
            while key in used:
                key, suffix = f"{base}_{suffix}", suffix + 1
            used.add(key)
            entry["key"] = key
        result.append(entry)
    return result


def mapping_problems(mapping: list[dict]) -> list[str]:
    """What is wrong with a mapping, in staff's words (an empty list when it can be used)."""
    problems = []
    roles = [entry["role"] for entry in mapping]
    if PHONE not in roles:
        names = ", ".join(repr(entry["column"]) for entry in mapping) or "none"
        problems.append(
            f"No column is the phone number. The file's columns are: {names}. "
            "Choose which one holds the phone numbers (we look for phone, mobile, number, to, msisdn)."
        )
    for role in SINGLE_ROLES:
        if roles.count(role) > 1:
            problems.append(f"Only one column can be {ROLES[role]!r}; {roles.count(role)} are.")
    if NAME in roles and (FIRST_NAME in roles or LAST_NAME in roles):
        problems.append("Choose either one Name column, or First name and Last name columns, not both.")
    return problems


def renamed_extras(mapping: list[dict]) -> list[tuple[str, str]]:
    """Extra columns whose placeholder key differs from the header, to tell staff."""
    return [(e["column"], e["key"]) for e in mapping if e["role"] == EXTRA and e["key"] != e["column"]]


def plan_for(mapping: list[dict], region: str, now_iso: str) -> dict:
    """Everything a worker process needs to turn rows into contacts (plain, picklable values)."""

    def position(role: str) -> int | None:
        return next((i for i, entry in enumerate(mapping) if entry["role"] == role), None)

    return {
        "phone": position(PHONE),
        "name": position(NAME),
        "first_name": position(FIRST_NAME),
        "last_name": position(LAST_NAME),
        "opted_out_at": position(OPTED_OUT_AT),
        "extras": [(i, entry["key"]) for i, entry in enumerate(mapping) if entry["role"] == EXTRA],
        "width": len(mapping),
        "region": region,
        "now": now_iso,
    }

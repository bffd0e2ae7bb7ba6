"""Raw rows in, contacts or rejections out. Pure Python without Django: it runs in worker processes.

A contact is ``(row_number, phone, name, extras_json, opted_out_at_iso_or_None)``; a rejection is
``(row_number, reason, cells)``. Reasons name the column and the value, in the staff's words.
"""

from __future__ import annotations

import datetime
import json
import re

import phonenumbers

NAME_MAX = 200
SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
DECIMAL = re.compile(r"^\+?\d{6,}[.,]\d+$")
PUNCTUATION = re.compile(r"[\s\-().\u00a0/]")
OPT_OUT_YES = {"yes", "y", "true", "1", "x", "opted out", "opted-out", "unsubscribed", "stop"}
OPT_OUT_NO = {"", "no", "n", "false", "0", "-", "subscribed", "opted in"}

Contact = tuple[int, str, str, str, str | None]
Rejection = tuple[int, str, list[str]]


def process_chunk(plan: dict, rows: list[tuple[int, list[str] | None, str]]) -> tuple[list[Contact], list[Rejection]]:
    """Turn a chunk of (row number, cells, problem) into contacts and rejections, keeping file order."""
    contacts: list[Contact] = []
    rejections: list[Rejection] = []
    for row_number, raw, problem in rows:
        if raw is None:
            rejections.append((row_number, problem, []))
            continue
        cells = raw
        if "\x00" in "".join(raw):  # a NUL cannot be stored (PostgreSQL text), and means nothing here
            cells = [cell.replace("\x00", "") for cell in raw]
        contact, reason = read_row(plan, row_number, cells)
        if contact is None:
            rejections.append((row_number, reason, cells))
        else:
            contacts.append(contact)
    return contacts, rejections


def read_row(plan: dict, row_number: int, cells: list[str]) -> tuple[Contact | None, str]:
    width = plan["width"]
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        return None, (
            f"this row has {len(cells)} cells but the header has {width} columns "
            "(a comma or semicolon inside a value that is not in quotes?)"
        )
    if len(cells) < width:
        cells = cells + [""] * (width - len(cells))
    phone, reason = normalise_phone(cells[plan["phone"]], plan["region"])
    if phone is None:
        return None, reason
    name = full_name(plan, cells)
    if len(name) > NAME_MAX:
        return None, f"name is {len(name)} characters long; at most {NAME_MAX}"
    opted_out_at = None
    if plan["opted_out_at"] is not None:
        opted_out_at, reason = read_opt_out(cells[plan["opted_out_at"]], plan["now"])
        if reason:
            return None, reason
    extras = {key: cells[i].strip() for i, key in plan["extras"] if cells[i].strip()}
    extras_json = json.dumps(extras, ensure_ascii=False, separators=(",", ":"))
    return (row_number, phone, name, extras_json, opted_out_at), ""


def full_name(plan: dict, cells: list[str]) -> str:
    if plan["name"] is not None:
        return " ".join(cells[plan["name"]].split())
    parts = [cells[plan[part]] for part in ("first_name", "last_name") if plan[part] is not None]
    return " ".join(" ".join(parts).split())


def normalise_phone(raw: str, region: str) -> tuple[str | None, str]:
    """(E.164, "") or (None, reason). Spreadsheet-mangled numbers are reported, never guessed."""
    text = raw.strip()
    if not text:
        return None, "no phone number"
    spaceless = text.replace(" ", "")
    if SCIENTIFIC.match(spaceless):
        return None, (
            f"phone {raw!r} was turned into scientific notation by a spreadsheet, so its last digits are lost; "
            "format the column as Text and export the file again"
        )
    if DECIMAL.match(spaceless):
        return None, (
            f"phone {raw!r} has a decimal part: a spreadsheet stored it as a number; "
            "format the column as Text and export the file again"
        )
    compact = PUNCTUATION.sub("", text)
    if compact.lower().startswith("whatsapp:"):
        compact = compact[len("whatsapp:") :]
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    candidates = [compact]
    if compact.isdigit() and len(compact) > 10 and not compact.startswith("0"):
        candidates.insert(0, "+" + compact)  # international digits without the +, as exports often have
    readable = False
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        readable = True
        if phonenumbers.is_valid_number(number):
            return f"+{number.country_code}{phonenumbers.national_significant_number(number)}", ""
    if not readable:
        return None, f"phone {raw!r} is not a phone number"
    return None, f"phone {raw!r} is not a valid number (read as {region} when it has no country code)"


def read_opt_out(raw: str, now_iso: str) -> tuple[str | None, str]:
    """An opted-out column can only opt out: a date or yes opts out; empty or no changes nothing."""
    text = raw.strip()
    words = text.lower()
    if words in OPT_OUT_NO:
        return None, ""
    if words in OPT_OUT_YES:
        return now_iso, ""
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None, f"opted out {raw!r} is neither a date (like 2024-05-31) nor yes/no"
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.isoformat(), ""

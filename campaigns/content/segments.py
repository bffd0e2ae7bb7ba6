"""How many SMS segments a text costs, and which characters make it cost more.

An SMS carries 140 bytes. Text that only uses the GSM 03.38 alphabet goes as 7-bit GSM-7: 160
characters, or 153 a segment once it is split (the rest of each segment holds the header that
joins them). A single character outside that alphabet - a curly quote pasted from a word
processor, a non-breaking space, an emoji - turns the whole message into UCS-2: 70 characters, or
67 a segment. That can double or triple what a campaign costs, so staff are shown the culprits.

Characters of the GSM extension table (``{ } [ ] ~ \\ | ^ €`` and form feed) stay GSM-7 but take
two septets each (an escape, then the character). A split never cuts an escape pair or a UTF-16
surrogate pair in two, so the last septet or unit of a segment may stay empty.

static/js/template_segments.js counts the same way in the browser; tests/test_segments.py checks
both on the same cases (tests/fixtures/segments.json).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet, in table order (0x1B, the escape to the extension table, left out).
# 0x09 is the capital Ç, as in the Unicode consortium's GSM0338 mapping.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    + "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
GSM_BASIC_SET = frozenset(GSM_BASIC)
GSM_EXTENSION_SET = frozenset(GSM_EXTENSION)

SINGLE = {GSM7: 160, UCS2: 70}
MULTI = {GSM7: 153, UCS2: 67}

# Characters that often slip in from word processors and phones, what to call them, and the GSM
# character that looks the same. Anything else is named by its Unicode name.
LOOKALIKES: dict[str, tuple[str, str]] = {
    "\u00a0": ("non-breaking space", " "),
    "\u2007": ("figure space", " "),
    "\u202f": ("narrow non-breaking space", " "),
    "\u2009": ("thin space", " "),
    "\u200b": ("zero-width space", ""),
    "\u2018": ("left curly quote", "'"),
    "\u2019": ("right curly quote (apostrophe)", "'"),
    "\u201a": ("low curly quote", "'"),
    "\u201c": ("left curly double quote", '"'),
    "\u201d": ("right curly double quote", '"'),
    "\u201e": ("low curly double quote", '"'),
    "\u2013": ("en dash", "-"),
    "\u2014": ("em dash", "-"),
    "\u2026": ("ellipsis", "..."),
    "\u00b4": ("acute accent", "'"),
    "\u02bc": ("modifier apostrophe", "'"),
    "\u2022": ("bullet", "-"),
    "\u00ab": ("left angle quote", '"'),
    "\u00bb": ("right angle quote", '"'),
}


@dataclass(frozen=True)
class ForcingCharacter:
    """A character that makes the text UCS-2, where it first appears, and what could replace it."""

    character: str
    name: str
    code_point: str  # "U+2019"
    count: int
    first_position: int  # index in the text, counted in characters (code points)
    replacement: str | None  # a GSM-7 lookalike, when there is one


@dataclass(frozen=True)
class SegmentCount:
    """What a text costs as an SMS."""

    encoding: str  # GSM7 or UCS2
    characters: int  # as a person counts them
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # units a segment holds at this length: 160, 153, 70 or 67
    remaining: int  # units still free in the last segment
    forcing: tuple[ForcingCharacter, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "remaining": self.remaining,
            "forcing": [f.__dict__ for f in self.forcing],
        }


def is_gsm7(character: str) -> bool:
    return character in GSM_BASIC_SET or character in GSM_EXTENSION_SET


def unit_widths(text: str) -> tuple[str, list[int]]:
    """The encoding the text needs, and each character's width in that encoding's units."""
    if all(is_gsm7(character) for character in text):
        return GSM7, [2 if character in GSM_EXTENSION_SET else 1 for character in text]
    return UCS2, [2 if ord(character) > 0xFFFF else 1 for character in text]


def pack(widths: list[int], size: int) -> tuple[int, int]:
    """Segments of ``size`` units needed, never splitting a character; and units left in the last."""
    segments, used = 1, 0
    for width in widths:
        if used + width > size:
            segments, used = segments + 1, 0
        used += width
    return segments, size - used


def count_segments(text: str) -> SegmentCount:
    """The encoding, length and number of segments of ``text`` sent as one SMS."""
    encoding, widths = unit_widths(text)
    units = sum(widths)
    if units == 0:
        return SegmentCount(encoding, 0, 0, 0, SINGLE[encoding], SINGLE[encoding])
    if units <= SINGLE[encoding]:
        segments, size, remaining = 1, SINGLE[encoding], SINGLE[encoding] - units
    else:
        size = MULTI[encoding]
        segments, remaining = pack(widths, size)
    forcing = forcing_characters(text) if encoding == UCS2 else ()
    return SegmentCount(encoding, len(text), units, segments, size, remaining, forcing)


def forcing_characters(text: str) -> tuple[ForcingCharacter, ...]:
    """The distinct characters that are not GSM-7, in order of first appearance."""
    found: dict[str, list[int]] = {}
    for position, character in enumerate(text):
        if not is_gsm7(character):
            found.setdefault(character, []).append(position)
    return tuple(_describe(character, positions) for character, positions in found.items())


def _describe(character: str, positions: list[int]) -> ForcingCharacter:
    known = LOOKALIKES.get(character)
    name = known[0] if known else unicodedata.name(character, "unnamed character").lower()
    return ForcingCharacter(
        character=character,
        name=name,
        code_point=f"U+{ord(character):04X}",
        count=len(positions),
        first_position=positions[0],
        replacement=known[1] if known else None,
    )


def to_gsm7(text: str) -> str:
    """The text with every known lookalike replaced by its GSM-7 twin (others left as they are)."""
    return "".join(LOOKALIKES[c][1] if c in LOOKALIKES else c for c in text)


def browser_tables() -> dict[str, object]:
    """The alphabets and lookalikes for the browser's counter, so both count from one table; and a
    short link as recipients get it, so a tracked campaign's URLs are counted at its length."""
    from campaigns.links.codes import CODE_LENGTH, TRAILING, short_url

    return {
        "short_link": short_url("0" * CODE_LENGTH),
        "link_trailing": TRAILING,
        "basic": GSM_BASIC,
        "extension": GSM_EXTENSION,
        "lookalikes": {character: list(pair) for character, pair in LOOKALIKES.items()},
        "single": SINGLE,
        "multi": MULTI,
    }

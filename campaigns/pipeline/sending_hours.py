"""Sending hours: a campaign's window (e.g. 09:00 to 20:00) in each recipient's local time.

The recipient's time zone comes from the number: phonenumbers' zone data, the same that
``phonenumbers.timezone.time_zones_for_number`` reads. The pipeline asks for every message of a
campaign with sending hours, thousands a second, so the zones are kept per number prefix: per
country calling code where the country has one zone (most of the world), else per the longest
prefix the zone data tells apart in that country (+1 415 555 for North America). Only the first
number of each prefix goes through phonenumbers.

A number that may be in several zones (a mobile number in Russia or Australia, a North American
toll-free number) goes when the window is open in all of them. Where they share no open hour in
the next two days (Kaliningrad to Kamchatka is ten hours), the zone in the middle of them by UTC
offset counts. A number whose zone nobody knows counts as in the time zone of the staff member
who created the campaign (TIME_ZONE if they never chose one).

A window may cross midnight: 22:00 to 06:00 is open from 22:00 until 06:00 the next morning.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache, lru_cache

import phonenumbers
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA

LOOKAHEAD_DAYS = 2  # how far ahead to look for an hour open in every zone of a number
MAX_PREFIXES = 200_000  # zones kept per process: a few megabytes
_COUNTRY_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
_zones_by_prefix: dict[str, tuple[str, ...]] = {}


# --- the recipient's zones -----------------------------------------------------------------------


def zones_for(phone: str) -> tuple[str, ...]:
    """The time zone names an E.164 number may be in; empty when unknown."""
    digits = phone[1:] if phone.startswith("+") else phone
    code = _country_code(digits)
    if code is None:
        return ()
    key = digits[: _prefix_length(code)]
    zones = _zones_by_prefix.get(key)
    if zones is None:
        zones = _zones_from_phonenumbers(phone)
        if not zones:  # a number phonenumbers finds invalid: its country's zones, not kept for the prefix
            return _country_zones(code)
        if len(_zones_by_prefix) >= MAX_PREFIXES:
            _zones_by_prefix.clear()
        _zones_by_prefix[key] = zones
    return zones


def _country_code(digits: str) -> str | None:
    for length in (1, 2, 3):
        if digits[:length] in _COUNTRY_CODES:
            return digits[:length]
    return None


@cache
def _country_zones(code: str) -> tuple[str, ...]:
    return tuple(name for name in TIMEZONE_DATA.get(code, ()) if name != UNKNOWN_TIMEZONE and is_zone(name))


@cache
def _prefix_length(code: str) -> int:
    """How many leading digits decide a number's zones in this country: the calling code alone where
    every entry of the zone data under it names the same zones, else its longest entry."""
    country = TIMEZONE_DATA.get(code)
    entries = [prefix for prefix in TIMEZONE_DATA if prefix.startswith(code)]
    if all(TIMEZONE_DATA[prefix] == country for prefix in entries):
        return len(code)
    return max(len(prefix) for prefix in entries)


def _zones_from_phonenumbers(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(name for name in time_zones_for_number(number) if name != UNKNOWN_TIMEZONE and is_zone(name))


@cache
def is_zone(name: str) -> bool:
    """Whether this Python knows the zone name (phonenumbers may name one newer than its tzdata)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- when a window is open -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """Whether a number may be sent to now, and until when that answer holds."""

    open: bool
    until: datetime  # open: when the window closes for it; closed: when it opens
    since: datetime  # when it was worked out (it holds from then until ``until``)

    def holds(self, now: datetime) -> bool:
        return self.since <= now < self.until


class SendingHours:
    """One window (start, end: times of day), answering per set of zones; answers are kept while they hold."""

    def __init__(self, start: time, end: time) -> None:
        self.start, self.end = start, end
        self._answers: dict[tuple[str, ...], Answer] = {}

    def answer(self, zones: tuple[str, ...], now: datetime) -> Answer:
        """Whether the window is open now for a number in these zones (at least one), and until when."""
        kept = self._answers.get(zones)
        if kept is not None and kept.holds(now):
            return kept
        found = self._answer(tuple(_zone(name) for name in zones), now)
        self._answers[zones] = found
        return found

    def opens_at(self, zones: tuple[str, ...], now: datetime) -> datetime | None:
        """None when a message to these zones may go now, else when its window next opens."""
        found = self.answer(zones, now)
        return None if found.open else found.until

    def is_open(self, zone: zoneinfo.ZoneInfo, moment: datetime) -> bool:
        local = moment.astimezone(zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # crosses midnight

    def _answer(self, zones: tuple[zoneinfo.ZoneInfo, ...], now: datetime) -> Answer:
        if all(self.is_open(zone, now) for zone in zones):
            return Answer(True, min(self._next(self.end, zone, now) for zone in zones), now)
        starts = sorted(
            moment for zone in zones for moment in self._moments(self.start, zone, now, LOOKAHEAD_DAYS) if moment > now
        )
        for moment in starts:
            if all(self.is_open(zone, moment) for zone in zones):
                return Answer(False, moment, now)
        middle = sorted(zones, key=lambda zone: now.astimezone(zone).utcoffset())[(len(zones) - 1) // 2]
        if self.is_open(middle, now):
            return Answer(True, self._next(self.end, middle, now), now)
        return Answer(False, self._next(self.start, middle, now), now)

    def _next(self, at: time, zone: zoneinfo.ZoneInfo, now: datetime) -> datetime:
        """The next moment after ``now`` when it is ``at`` o'clock in ``zone``."""
        return min(moment for moment in self._moments(at, zone, now, 2) if moment > now)

    @staticmethod
    def _moments(at: time, zone: zoneinfo.ZoneInfo, now: datetime, days: int) -> list[datetime]:
        """``at`` o'clock in ``zone`` on each local day from yesterday to ``days`` days ahead, in UTC."""
        today = now.astimezone(zone).date()
        return [
            datetime.combine(today + timedelta(days=offset), at, tzinfo=zone).astimezone(UTC)
            for offset in range(-1, days + 1)
        ]


@lru_cache(maxsize=64)
def hours(start: time, end: time) -> SendingHours:
    """The shared SendingHours of a window, so its answers serve every claim of the process."""
    return SendingHours(start, end)


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)

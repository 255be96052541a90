"""One grammar for durations and instants, shared by rules, the CLI and settings.

Durations: ``90s``, ``30m``, ``2h``, ``1d``, ``1w``, ``1d4h`` or ``1d 4h``.
Instants: ISO 8601 with an offset (``2026-11-24T09:00:00-03:00``) or relative to
now (``now``, ``now+2h``, ``now-30m``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(.+))?$")
# ISO 8601's extended form with a date and a time: "20261201" is a date in the basic form,
# and a string of digits is what JSON tools and pydantic would read as Unix seconds.
_ISO_DATE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class DurationError(ValueError):
    """A duration or instant that does not follow the grammar."""


class DurationTooLarge(DurationError):
    """A duration past what a timedelta holds (999,999,999 days)."""


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for ``text``; raises DurationError with what is wrong."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise DurationError(
            f"invalid duration {text!r}: use a number and a unit, e.g. 90s, 30m, 2h, 1d, 1d4h"
        )
    total = timedelta()
    seen: set[str] = set()
    for amount, unit in _PART.findall(text):
        if unit in seen:
            raise DurationError(f"invalid duration {text!r}: unit {unit!r} given twice")
        seen.add(unit)
        try:
            total += int(amount) * _UNITS[unit]
        except OverflowError:  # past timedelta's 999,999,999 days
            raise DurationTooLarge(f"invalid duration {text!r}: too large") from None
    return total


def parse_positive_duration(text: str) -> timedelta:
    """Like parse_duration, but zero is an error too."""
    value = parse_duration(text)
    if value <= timedelta(0):
        raise DurationError(f"invalid duration {text!r}: must be greater than zero")
    return value


@lru_cache(maxsize=4096)  # the scan words a reason for every notice, mostly the same few
def format_duration(value: timedelta) -> str:
    """Return ``value`` in the grammar (``1d4h``); the inverse of parse_duration."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def looks_like_iso_instant(text: str) -> bool:
    """True when ``text`` starts as ISO 8601 with a date and a time (2026-11-24T09:00)."""
    return bool(_ISO_DATE_TIME.match(text))


def parse_instant(text: str, now: datetime) -> datetime:
    """Return the aware UTC instant for ISO 8601 with an offset, or ``now[+-]DURATION``."""
    raw = text.strip()
    relative = _RELATIVE.match(raw)
    if relative:
        sign, amount = relative.groups()
        if sign is None:
            return now.astimezone(UTC)
        delta = parse_duration(amount)
        try:
            return (now + delta if sign == "+" else now - delta).astimezone(UTC)
        except OverflowError:  # before year 1 or after year 9999
            raise DurationError(f"invalid time {text!r}: out of range") from None
    return _written_instant(text, "(2026-11-24T09:00:00-03:00) or now+2h / now-30m")


def parse_written_instant(text: str) -> datetime:
    """Return the aware UTC instant for ISO 8601 with an offset: no ``now``, as in a file
    that is read again long after it was written."""
    return _written_instant(text, "(2026-11-24T09:00:00-03:00), not now+2h")


def _written_instant(text: str, usage: str) -> datetime:
    raw = text.strip()
    try:
        if not looks_like_iso_instant(raw):
            raise ValueError(raw)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise DurationError(f"invalid time {text!r}: use ISO 8601 with an offset {usage}") from None
    if value.tzinfo is None:
        raise DurationError(
            f"invalid time {text!r}: it has no UTC offset; add one, e.g. {raw}-03:00"
        )
    return value.astimezone(UTC)

"""Validators for the values inside rule files: durations, times of day, names."""

from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from notifier.domain.calendars import WEEKDAYS, BusinessDuration, supported_countries
from notifier.domain.durations import DurationError, DurationTooLarge, parse_duration
from notifier.domain.models import CHANNELS, ChannelName
from notifier.domain.rules.model import Offset
from notifier.domain.rules.spelling import did_you_mean, one_of

_BUSINESS = re.compile(r"^\s*(\d+)\s*business[_ ](day|hour)(s?)\s*$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_MESSAGE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
# Ten years: longer than any promise is tracked, and far enough inside datetime's range
# that a deadline plus every repeat of a rule never overflows it.
MAX_DURATION = timedelta(days=3650)


def wall_duration(value: object, *, allow_zero: bool = False) -> timedelta:
    """Return a clock duration (``2h``); zero only where ``allow_zero``."""
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: use a number and a unit, e.g. 30m, 2h, 1d")
    try:
        result = parse_duration(value)
    except DurationTooLarge:  # more days than a timedelta holds: past the rules' own bound
        result = timedelta.max
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    except ValueError:  # more digits than int() reads
        result = timedelta.max
    if result > MAX_DURATION:
        raise ValueError(f"invalid duration {value!r}: at most 3650d (ten years)")
    if result <= timedelta(0) and not allow_zero:
        raise ValueError(f"invalid duration {value!r}: must be greater than zero")
    return result


def offset(value: object, *, allow_zero: bool = False) -> Offset:
    """Return a clock duration or ``N business_day(s)`` / ``N business_hour(s)``."""
    if isinstance(value, str) and (found := _BUSINESS.match(value)):
        digits, unit, plural = found[1].lstrip("0") or "0", found[2], found[3]
        if len(digits) > 6:  # no calendar has a million working hours in a year
            raise ValueError(f"invalid duration {value!r}: more than a year of working time")
        amount = int(digits)
        if amount == 0:
            raise ValueError(f"invalid duration {value!r}: must be greater than zero")
        if (amount == 1) == bool(plural):
            right = f"{amount} business_{unit}{'' if amount == 1 else 's'}"
            raise ValueError(f"invalid duration {value!r} (did you mean '{right}'?)")
        if unit == "day":
            return BusinessDuration(days=amount)
        return BusinessDuration(hours=amount)
    if isinstance(value, str) and "business" in value:
        raise ValueError(
            f"invalid duration {value!r}: write business time as '1 business_day', "
            "'2 business_days' or '4 business_hours'"
        )
    return wall_duration(value, allow_zero=allow_zero)


def time_of_day(value: object) -> time:
    """Return ``HH:MM`` (24-hour clock) as a time."""
    found = _TIME.match(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"invalid time of day {value!r}: use HH:MM on a 24-hour clock, e.g. 21:00")
    return time(int(found[1]), int(found[2]))


def choice(value: object, options: tuple[str, ...], what: str) -> str:
    """Return ``value`` when it is one of ``options``; else an error with a hint."""
    if isinstance(value, str) and value in options:
        return value
    hint = did_you_mean(str(value), options)
    raise ValueError(f"unknown {what} {_show(value)}{hint}: use {one_of(options)}")


def channel(value: object) -> ChannelName:
    """Return one of the four channels."""
    for name in CHANNELS:
        if value == name:
            return name
    raise ValueError(
        f"unknown channel {_show(value)}{did_you_mean(str(value), CHANNELS)}: "
        f"use {one_of(CHANNELS)}"
    )


def timezone(value: object) -> str:
    """Return an IANA timezone name that zoneinfo knows."""
    if isinstance(value, str):
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    hint = did_you_mean(str(value), available_timezones())
    raise ValueError(
        f"unknown timezone {_show(value)}{hint}: use an IANA name such as America/Lima"
    )


def country(value: object) -> str:
    """Return an ISO 3166 country code the holidays package covers."""
    known = supported_countries()
    if isinstance(value, str) and value.upper() in known:
        return value.upper()
    raise ValueError(
        f"unknown country {_show(value)}{did_you_mean(str(value).upper(), known)}: "
        "use an ISO 3166 code such as AR, MX, CO, CL, PE, BR, ES or US"
    )


CUSTOMER_COUNTRY = "customer"


def calendar_country(value: object) -> str:
    """Return a country the holidays package covers, or ``customer``: each customer's own."""
    return CUSTOMER_COUNTRY if value == CUSTOMER_COUNTRY else country(value)


def weekday(value: object) -> int:
    """Return Monday=0 for ``mon`` ... ``sun``."""
    return WEEKDAYS.index(choice(value, WEEKDAYS, "weekday"))


def rule_id(value: object) -> str:
    """Return a rule id: it keys what was sent, so it must be plain and stable."""
    if isinstance(value, str) and _ID.match(value):
        return value
    raise ValueError(
        f"invalid rule id {_show(value)}: use lower-case letters, digits, '-', '_' or '.', "
        "up to 100 characters (it keys what was already sent: never reuse or rename one)"
    )


def message_name(value: object) -> str:
    """Return a message name: the folder under templates/."""
    if isinstance(value, str) and _MESSAGE.match(value):
        return value
    raise ValueError(
        f"invalid message name {_show(value)}: use lower-case letters, digits and '_', "
        "as the folder under templates/ (e.g. delivery_late)"
    )


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."

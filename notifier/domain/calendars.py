"""Business time: working hours and public holidays, in the customer's own timezone.

``1 business_day`` is one working day's worth of working hours, counted only inside
working hours on working days that are not public holidays (the ``holidays`` package)
of the calendar's country. So a refund due Friday 17:00 with 9:00-18:00 working hours
is one business day late on Monday 17:00, and Saturday 10:00 plus one business day is
Monday 18:00.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# Longer than any sane business duration: a calendar with no working day at all
# (every weekday a holiday) must end the walk instead of looping forever.
_MAX_DAYS = 3 * 366
# The most business time a rule may ask for: a year of the calendar's working weeks,
# which the three-year walk always finds, however many holidays fall in it.
MAX_BUSINESS_WEEKS = 52
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """A calendar that cannot answer: no working time within years."""


@dataclass(frozen=True, slots=True)
class Calendar:
    country: str | None = None  # None: weekends only, no public holidays
    subdivision: str | None = None
    workday_start: time = time(9)
    workday_end: time = time(18)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday is 0
    timezone: str | None = None  # None: the customer's timezone
    # ``country: customer`` in a rule: the holidays of each customer's own country.
    customer_country: bool = False

    def for_customer(self, country: str | None) -> Calendar:
        """Return the calendar for a customer of ``country`` (given or read off the phone).

        Only a ``country: customer`` calendar changes: it takes that country's holidays,
        or none (weekends only) when the country is unknown or the holidays package has
        no calendar for it.
        """
        if not self.customer_country:
            return self
        known = country if country in supported_countries() else None
        return replace(self, country=known, customer_country=False)

    @property
    def day_length(self) -> timedelta:
        """Return the working hours in one working day."""
        start = datetime.combine(date(2000, 1, 3), self.workday_start)
        return datetime.combine(date(2000, 1, 3), self.workday_end) - start


@dataclass(frozen=True, slots=True)
class BusinessDuration:
    days: int = 0
    hours: int = 0

    def __str__(self) -> str:
        parts = []
        if self.days:
            parts.append(f"{self.days} business_day{'s' if self.days != 1 else ''}")
        if self.hours:
            parts.append(f"{self.hours} business_hour{'s' if self.hours != 1 else ''}")
        return " ".join(parts) or "0 business_hours"

    def working_time(self, calendar: Calendar) -> timedelta:
        """Return the amount of working time this stands for in ``calendar``."""
        return self.days * calendar.day_length + timedelta(hours=self.hours)


def max_business_seconds(calendar: Calendar) -> int:
    """Return, in seconds, the most working time a business duration may stand for."""
    day = int(calendar.day_length.total_seconds())
    return MAX_BUSINESS_WEEKS * len(calendar.weekdays) * max(day, 0)


@lru_cache(maxsize=1)
def supported_countries() -> dict[str, tuple[str, ...]]:
    """Return every country code the holidays package knows, with its subdivisions."""
    return {code: tuple(subs) for code, subs in holidays.list_supported_countries().items()}


@lru_cache(maxsize=512)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def is_business_day(day: date, calendar: Calendar) -> bool:
    """True when ``day`` is a working weekday and not a public holiday in the calendar."""
    if day.weekday() not in calendar.weekdays:
        return False
    if calendar.country is None:
        return True
    return day not in _holidays(calendar.country, calendar.subdivision, day.year)


def _working_window(day: date, calendar: Calendar, tz: ZoneInfo) -> tuple[datetime, datetime]:
    # fold=0 moves a start skipped by DST later, as quiet hours do.
    start = datetime.combine(day, calendar.workday_start).replace(tzinfo=tz, fold=0)
    end = datetime.combine(day, calendar.workday_end).replace(tzinfo=tz, fold=0)
    return start.astimezone(UTC), end.astimezone(UTC)


def add_business_time(
    start: datetime, amount: BusinessDuration, calendar: Calendar, tz: ZoneInfo
) -> datetime:
    """Return the UTC instant ``amount`` of working time after ``start``."""
    remaining = amount.working_time(calendar)
    day = start.astimezone(tz).date()
    cursor = start.astimezone(UTC)
    for _ in range(_MAX_DAYS):
        if is_business_day(day, calendar):
            opens, closes = _working_window(day, calendar, tz)
            begin = max(cursor, opens)
            if begin < closes:
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
    raise CalendarError("no working time found within three years: check the calendar")


def subtract_business_time(
    end: datetime, amount: BusinessDuration, calendar: Calendar, tz: ZoneInfo
) -> datetime:
    """Return the UTC instant ``amount`` of working time before ``end``."""
    remaining = amount.working_time(calendar)
    day = end.astimezone(tz).date()
    cursor = end.astimezone(UTC)
    for _ in range(_MAX_DAYS):
        if is_business_day(day, calendar):
            opens, closes = _working_window(day, calendar, tz)
            finish = min(cursor, closes)
            if finish > opens:
                if remaining <= finish - opens:
                    return finish - remaining
                remaining -= finish - opens
        day -= timedelta(days=1)
    raise CalendarError("no working time found within three years: check the calendar")

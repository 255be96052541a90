"""Business time: working hours and public holidays in the calendar's zone."""
# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.domain.calendars import (
    BusinessDuration,
    Calendar,
    CalendarError,
    add_business_time,
    is_business_day,
    subtract_business_time,
)

BA = ZoneInfo("America/Argentina/Buenos_Aires")
AR = Calendar(country="AR")
COUNTRIES = ("AR", "MX", "CO", "CL", "PE", "BR", "ES", "US")
ZONES = {
    "AR": "America/Argentina/Buenos_Aires", "MX": "America/Mexico_City",
    "CO": "America/Bogota", "CL": "America/Santiago", "PE": "America/Lima",
    "BR": "America/Sao_Paulo", "ES": "Europe/Madrid", "US": "America/New_York",
}  # fmt: skip


def local(*args: int, tz: ZoneInfo = BA) -> datetime:
    year, month, day, hour = args
    return datetime(year, month, day, hour, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        pytest.param(local(2026, 3, 5, 17), BusinessDuration(days=1), local(2026, 3, 6, 17), id="thu-to-fri"),
        pytest.param(local(2026, 3, 6, 17), BusinessDuration(days=1), local(2026, 3, 9, 17), id="over-weekend"),
        pytest.param(local(2026, 3, 7, 10), BusinessDuration(days=1), local(2026, 3, 9, 18), id="from-saturday"),
        pytest.param(local(2026, 3, 5, 20), BusinessDuration(days=1), local(2026, 3, 6, 18), id="after-hours"),
        pytest.param(local(2026, 3, 5, 7), BusinessDuration(hours=2), local(2026, 3, 5, 11), id="before-hours"),
        pytest.param(local(2026, 3, 20, 17), BusinessDuration(days=1), local(2026, 3, 25, 17), id="holidays"),
        pytest.param(local(2026, 3, 5, 17), BusinessDuration(days=2, hours=2), local(2026, 3, 10, 10), id="days-and-hours"),
    ],
)  # fmt: skip
def test_add_business_time(start: datetime, amount: BusinessDuration, expected: datetime) -> None:
    assert add_business_time(start, amount, AR, BA) == expected


@pytest.mark.parametrize(
    ("end", "amount", "expected"),
    [
        pytest.param(local(2026, 3, 9, 12), BusinessDuration(days=1), local(2026, 3, 6, 12), id="back-over-weekend"),
        pytest.param(local(2026, 3, 9, 8), BusinessDuration(hours=1), local(2026, 3, 6, 17), id="before-opening"),
        pytest.param(local(2026, 3, 25, 10), BusinessDuration(hours=2), local(2026, 3, 20, 17), id="back-over-holidays"),
    ],
)  # fmt: skip
def test_subtract_business_time(
    end: datetime, amount: BusinessDuration, expected: datetime
) -> None:
    assert subtract_business_time(end, amount, AR, BA) == expected


@pytest.mark.parametrize(
    ("country", "day", "expected"),
    [
        ("AR", date(2026, 5, 25), False),  # Revolución de Mayo
        ("MX", date(2026, 9, 16), False),  # Independencia
        ("CO", date(2026, 7, 20), False),
        ("CL", date(2026, 9, 18), False),
        ("PE", date(2026, 7, 28), False),
        ("BR", date(2026, 9, 7), False),
        ("ES", date(2026, 10, 12), False),
        ("US", date(2026, 7, 3), False),  # the 4th is a Saturday: observed on Friday
        ("US", date(2026, 7, 6), True),
        ("AR", date(2026, 3, 7), False),  # a Saturday
    ],
)
def test_public_holidays_per_country(country: str, day: date, expected: bool) -> None:
    assert is_business_day(day, Calendar(country=country)) is expected


def test_custom_working_week() -> None:
    saturdays = Calendar(weekdays=frozenset({5}), workday_start=time(10), workday_end=time(14))
    start = local(2026, 3, 5, 12)
    assert add_business_time(start, BusinessDuration(days=1), saturdays, BA) == local(
        2026, 3, 7, 14
    )


def test_a_calendar_without_working_days_fails_instead_of_looping() -> None:
    with pytest.raises(CalendarError):
        add_business_time(
            local(2026, 3, 5, 12), BusinessDuration(days=1), Calendar(weekdays=frozenset()), BA
        )


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
amounts = st.builds(BusinessDuration, days=st.integers(0, 15), hours=st.integers(0, 30)).filter(
    lambda a: a.days or a.hours
)


@settings(max_examples=150, deadline=None)
@given(start=instants, amount=amounts, country=st.sampled_from(COUNTRIES))
def test_business_time_lands_in_working_hours_and_round_trips(
    start: datetime, amount: BusinessDuration, country: str
) -> None:
    calendar = Calendar(country=country)
    tz = ZoneInfo(ZONES[country])
    end = add_business_time(start, amount, calendar, tz)
    assert end > start
    assert end - start >= amount.working_time(calendar) - timedelta(hours=1)  # a DST hour
    local_end = end.astimezone(tz)
    assert is_business_day(local_end.date(), calendar)
    assert calendar.workday_start < local_end.time() <= calendar.workday_end
    back = subtract_business_time(end, amount, calendar, tz)
    assert back <= end
    assert add_business_time(back, amount, calendar, tz) == end

"""The process clock: the system clock plus an offset, or a start instant in test mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from notifier.clock import SystemClock, system_clock
from notifier.config import Settings

START = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)


def test_a_start_instant_is_where_the_clock_begins_whatever_the_machine_date() -> None:
    clock = SystemClock(start=START)
    first = clock.now()
    assert START <= first < START + timedelta(minutes=5)
    assert clock.now() >= first  # it runs on, never back


def test_advance_moves_a_started_clock_forward_and_refuses_to_go_back() -> None:
    clock = SystemClock(start=START)
    clock.advance(timedelta(days=2))
    assert clock.now() >= START + timedelta(days=2)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("3d", timedelta(days=3), id="forward"),
        pytest.param("-3d", timedelta(days=-3), id="back"),
        pytest.param(" -1h30m", -timedelta(hours=1, minutes=30), id="back-compound"),
    ],
)
def test_the_time_offset_may_be_negative(text: str, expected: timedelta) -> None:
    assert Settings(time_offset=text).time_offset == expected  # type: ignore[arg-type]  # parsed


def test_settings_give_the_clock_its_start_in_test_mode() -> None:
    s = Settings(test_mode=True, now=START, time_offset=timedelta(hours=1))
    now = system_clock(s.clock).now()
    assert START + timedelta(hours=1) <= now < START + timedelta(hours=1, minutes=5)


def test_a_start_instant_outside_test_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="NOTIFIER_NOW is read in test mode only"):
        Settings(now=START)


def test_a_start_instant_needs_an_offset() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Settings(test_mode=True, now="2031-06-01T12:00:00")  # type: ignore[arg-type]  # parsed

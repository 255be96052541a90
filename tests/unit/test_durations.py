"""The one duration grammar, and instants relative to now or with an offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.durations import (
    DurationError,
    format_duration,
    parse_duration,
    parse_instant,
    parse_positive_duration,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("30m", timedelta(minutes=30), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("1d", timedelta(days=1), id="days"),
        pytest.param("1w", timedelta(weeks=1), id="weeks"),
        pytest.param("1d4h", timedelta(days=1, hours=4), id="compound"),
        pytest.param("1d 4h", timedelta(days=1, hours=4), id="compound-spaced"),
        pytest.param(" 2h30m ", timedelta(hours=2, minutes=30), id="padded"),
        pytest.param("0s", timedelta(0), id="zero"),
    ],
)
def test_valid_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "2", "h", "2 hours", "-1h", "1.5h", "1h1h", "1x", "now", "1d4", "P1D",
     "99999999999999999d", "1000000000w", "9" * 30 + "s"],  # past timedelta's range
)  # fmt: skip
def test_invalid_durations_say_what_is_wrong(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


def test_zero_is_refused_where_it_makes_no_sense() -> None:
    with pytest.raises(DurationError, match="greater than zero"):
        parse_positive_duration("0m")


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_format_then_parse_is_the_identity_to_the_second(value: timedelta) -> None:
    whole = timedelta(seconds=int(value.total_seconds()))
    assert parse_duration(format_duration(whole)) == whole


@given(st.text(max_size=20))
def test_parse_never_fails_with_anything_but_duration_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except DurationError:
        return
    assert result >= timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("now", NOW, id="now"),
        pytest.param("now+2h", NOW + timedelta(hours=2), id="plus"),
        pytest.param("now-30m", NOW - timedelta(minutes=30), id="minus"),
        pytest.param("now + 1d4h", NOW + timedelta(days=1, hours=4), id="spaced"),
        pytest.param("2026-11-24T09:00:00-03:00", NOW, id="offset"),
        pytest.param("2026-11-24T12:00:00Z", NOW, id="zulu"),
    ],
)
def test_instants(text: str, expected: datetime) -> None:
    got = parse_instant(text, NOW)
    assert got == expected and got.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["2026-11-24T09:00:00", "tomorrow", "now+", "now*2h", "20261201", "2026-11-24",
     "now+3000000d", "now-1000000d"],  # past year 9999, before year 1
)  # fmt: skip
def test_bad_instants(text: str) -> None:
    with pytest.raises(DurationError):
        parse_instant(text, NOW)


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])))
def test_iso_instants_round_trip(value: datetime) -> None:
    assert parse_instant(value.isoformat(), NOW) == value.astimezone(UTC)

"""Planned maintenance decided at a given instant: open, follow a moved end, resolve, missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.incidents import Severity
from notifier.domain.maintenance import (
    Maintenance,
    Move,
    Opened,
    maintenance_moves,
    next_maintenance_at,
)

START = datetime(2026, 12, 20, 5, 0, tzinfo=UTC)
END = START + timedelta(hours=3)
PAGOS = Maintenance("pagos", {"es": "Pagos"}, {"kind": ["refund"]}, START, END)
SOURCE = "maintenance:pagos"


def _opened(*, is_open: bool = True, end: datetime | None = END) -> dict[str, Opened]:
    return {SOURCE: Opened(SOURCE, 7, is_open, end)}


CASES = [
    pytest.param([PAGOS], {}, START - timedelta(seconds=1), [], id="before-start-nothing"),
    pytest.param([PAGOS], {}, START, [Move("open", SOURCE, PAGOS)], id="at-start-open"),
    pytest.param(
        [PAGOS],
        {},
        END - timedelta(minutes=1),
        [Move("open", SOURCE, PAGOS)],
        id="down-at-start-up-before-end-open-late",
    ),
    pytest.param([PAGOS], {}, END, [Move("missed", SOURCE, PAGOS)], id="down-through-missed"),
    pytest.param([PAGOS], _opened(), START + timedelta(hours=1), [], id="open-nothing-to-do"),
    pytest.param([PAGOS], _opened(), END, [Move("resolve", SOURCE, PAGOS, 7)], id="at-end-resolve"),
    pytest.param(
        [PAGOS],
        _opened(),
        END + timedelta(days=2),
        [Move("resolve", SOURCE, PAGOS, 7)],
        id="end-passed-while-down-resolve",
    ),
    pytest.param([PAGOS], _opened(is_open=False), END, [], id="resolved-done"),
    pytest.param(
        [PAGOS],
        _opened(is_open=False),
        START + timedelta(minutes=5),
        [],
        id="resolved-by-a-person-early-stays-resolved",
    ),
    pytest.param(
        [PAGOS],
        _opened(end=END - timedelta(hours=1)),
        START + timedelta(minutes=5),
        [Move("reschedule", SOURCE, PAGOS, 7)],
        id="end-moved-while-open-follow",
    ),
    pytest.param(
        [],
        _opened(),
        START + timedelta(minutes=5),
        [Move("resolve", SOURCE, None, 7)],
        id="removed-while-open-resolve",
    ),
    pytest.param([], _opened(is_open=False), END, [], id="removed-after-resolved-nothing"),
    pytest.param([], {}, START, [], id="removed-before-start-never-opened"),
]


@pytest.mark.parametrize(("windows", "opened", "now", "expected"), CASES)
def test_moves(
    windows: list[Maintenance], opened: dict[str, Opened], now: datetime, expected: list[Move]
) -> None:
    assert maintenance_moves(windows, opened, now) == expected


def test_next_instant_is_the_earliest_start_or_end_to_come() -> None:
    later = Maintenance("red", {"es": "Red"}, {"kind": ["delivery"]}, START + timedelta(hours=1),
                        END + timedelta(days=1))  # fmt: skip
    assert next_maintenance_at([PAGOS, later], START - timedelta(days=1)) == START
    assert next_maintenance_at([PAGOS, later], START) == START + timedelta(hours=1)
    assert next_maintenance_at([PAGOS, later], START + timedelta(hours=1)) == END
    assert next_maintenance_at([PAGOS, later], END + timedelta(days=1)) is None
    assert next_maintenance_at([], START) is None


@pytest.mark.parametrize(
    ("severity", "through", "passes"),
    [
        pytest.param(Severity.MINOR, None, False, id="minor-respects"),
        pytest.param(Severity.CRITICAL, None, True, id="critical-passes"),
        pytest.param(Severity.CRITICAL, False, False, id="critical-told-to-respect"),
        pytest.param(Severity.MINOR, True, True, id="minor-told-to-pass"),
    ],
)
def test_quiet_hours_follow_severity_unless_the_file_says(
    severity: Severity, through: bool | None, passes: bool
) -> None:
    m = Maintenance("x", {"es": "X"}, {"kind": ["refund"]}, START, END, severity,
                    through_quiet_hours=through)  # fmt: skip
    assert m.passes_quiet_hours is passes

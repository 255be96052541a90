"""When the scan and the dispatcher look next (domain/waking.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.waking import RETRY, idle_wait, next_scan_at, not_sooner

BEGAN = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
NOW = BEGAN + timedelta(milliseconds=300)  # the scan took 300 ms
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("earliest", "skipped", "expected"),
    [
        pytest.param(None, False, None, id="no-check-waits: the interval"),
        pytest.param(BEGAN + 10 * S, False, BEGAN + 10 * S, id="ahead: at it"),
        pytest.param(BEGAN + S / 10, False, BEGAN + S / 10, id="fell due during the scan: now"),
        pytest.param(BEGAN, False, NOW + RETRY, id="due before the scan, still there: retry"),
        pytest.param(BEGAN - S, False, NOW + RETRY, id="long due, unmoved: retry"),
        pytest.param(BEGAN - S, True, NOW + RETRY, id="skipped, due: retry"),
        pytest.param(BEGAN + S / 10, True, NOW + RETRY, id="skipped, due meanwhile: retry"),
        pytest.param(BEGAN + 10 * S, True, BEGAN + 10 * S, id="skipped, ahead: at it"),
    ],
)
def test_next_scan_at(earliest: datetime | None, skipped: bool, expected: datetime | None) -> None:
    assert next_scan_at(earliest, BEGAN, NOW, skipped=skipped) == expected


@pytest.mark.parametrize(
    ("earliest", "expected"),
    [
        pytest.param(None, timedelta(seconds=5), id="nothing pending: the safety poll"),
        pytest.param(NOW + 2 * S, 2 * S, id="due soon: until then"),
        pytest.param(NOW + timedelta(hours=1), timedelta(seconds=5), id="due later: the poll"),
        pytest.param(NOW, S, id="due, not claimed: the due poll"),
        pytest.param(NOW - timedelta(hours=1), S, id="long due, not claimed: the due poll"),
    ],
)
def test_idle_wait(earliest: datetime | None, expected: timedelta) -> None:
    found = idle_wait(earliest, NOW, due_poll=S, safety=timedelta(seconds=5))
    assert found == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(NOW + S, NOW + S, id="after the scan began: as it is"),
        pytest.param(BEGAN + S / 10, BEGAN + S / 10, id="fell due during the scan: as it is"),
        pytest.param(BEGAN, NOW + RETRY, id="due when the scan began, left: retry after it"),
        pytest.param(BEGAN - 60 * S, NOW + RETRY, id="long due, left: retry after it"),
    ],
)
def test_not_sooner(at: datetime, expected: datetime) -> None:
    assert not_sooner(at, BEGAN, NOW) == expected


def test_not_sooner_before_any_scan() -> None:
    assert not_sooner(BEGAN, None, None) == BEGAN

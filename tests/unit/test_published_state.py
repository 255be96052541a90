"""The published scan and rules state: the JSON in the database, read back by any version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.health import Streak
from notifier.domain.published import (
    Published,
    PublishedState,
    RulesState,
    ScanFigures,
    ScanHealth,
    ScanState,
)
from notifier.engine.monitor import Health
from notifier.store.report_rows import to_published

T0 = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
FIGURES = ScanFigures(promises=2, scheduled=1, broken=0, plan_errors=1, seconds=0.004, now=T0)


def test_the_daemons_scan_state_is_the_json_it_always_published() -> None:
    health = Health(timedelta(seconds=30), 3)
    health.scan_done(T0)
    health.write_done(T0 + timedelta(seconds=1), RuntimeError("disk full"))
    view = health.state(FIGURES).view()
    assert view == {
        "promises": 2, "scheduled": 1, "broken": 0, "plan_errors": 1, "seconds": 0.004,
        "now": T0.isoformat(), "interval_s": 30.0, "last_ok": T0.isoformat(),
        "health": {
            "scan": {"failures": 0, "error": None, "since": None, "last_ok": T0.isoformat()},
            "writes": {"failures": 1, "error": "RuntimeError: disk full",
                       "since": (T0 + timedelta(seconds=1)).isoformat(), "last_ok": None},
            "dispatch": {"failures": 0, "error": None, "since": None, "last_ok": None},
        },
    }  # fmt: skip
    assert ScanState.from_view(view) == health.state(FIGURES)
    assert ScanState.from_view(view).view() == view


def test_a_daemon_whose_scans_all_failed_publishes_no_figures() -> None:
    health = Health(timedelta(seconds=10), 3)
    health.scan_done(T0, RuntimeError("down"))
    view = health.state(ScanFigures()).view()
    assert set(view) == {"interval_s", "last_ok", "health"} and view["last_ok"] is None
    state = ScanState.from_view(view)
    assert state.health is not None and state.health.last_ok is None
    assert state.health.scan.failures == 1 and state.view() == view


def test_an_older_daemons_state_has_no_health_and_keeps_its_keys() -> None:
    older = {"promises": 2, "scheduled": 1}
    state = ScanState.from_view(older)
    assert state == ScanState(ScanFigures(promises=2, scheduled=1))
    assert state.health is None and state.view() == older


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"promises": "2", "seconds": True, "now": "yesterday"}, ScanState(),
                     id="malformed-figures"),
        pytest.param({"last_ok": 5, "interval_s": -1, "health": []}, ScanState(health=ScanHealth()),
                     id="malformed-health"),
        pytest.param({"last_ok": None, "health": {"scan": {"failures": 3, "error": "x"}}},
                     ScanState(health=ScanHealth(scan=Streak(3, "x"))), id="partial-streaks"),
    ],
)  # fmt: skip
def test_a_malformed_scan_state_reads_as_unknown(
    data: dict[str, object], expected: ScanState
) -> None:
    assert ScanState.from_view(data) == expected


@pytest.mark.parametrize(
    ("state", "view"),
    [
        pytest.param(RulesState(ok=True, rules=7, problems=("a.yaml:1:1: w",)),
                     {"ok": True, "rules": 7, "problems": ["a.yaml:1:1: w"]}, id="in-force"),
        pytest.param(RulesState(ok=False, problems=("x.yaml:3:5: bad",)),
                     {"ok": False, "problems": ["x.yaml:3:5: bad"]}, id="refused"),
    ],
)  # fmt: skip
def test_the_rules_state_round_trips(state: RulesState, view: dict[str, object]) -> None:
    assert state.view() == view
    assert RulesState.from_view(view) == state


def test_an_empty_rules_state_reads_as_in_force_unknown_count() -> None:
    assert RulesState.from_view({}) == RulesState(ok=True, rules=None, problems=())


def test_the_store_reads_each_known_key_and_skips_the_rest() -> None:
    rows = [
        {"key": "scan", "value": {"promises": 2, "last_ok": None}, "updated_at": T0},
        {"key": "rules", "value": {"ok": False, "problems": ["x"]}, "updated_at": T0},
        {"key": "from-a-newer-version", "value": {"anything": 1}, "updated_at": T0},
    ]
    found = to_published(rows)
    assert found.scan == Published(ScanState(ScanFigures(promises=2), ScanHealth()), T0)
    assert found.rules == Published(RulesState(ok=False, problems=("x",)), T0)
    assert to_published([]) == PublishedState()

"""The health decisions, pure: failure streaks, readiness reasons, the status verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.health import (
    EXIT_OK,
    EXIT_STALE,
    EXIT_STUCK,
    Backlog,
    Finding,
    Streak,
    assess,
    exit_code,
    unready_reasons,
)
from notifier.engine.monitor import describe

T0 = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
FAILING = Streak().failed("OperationalError: gone", T0).failed("OperationalError: gone", T0 + S)


def test_a_streak_counts_failures_in_a_row_and_a_success_ends_it() -> None:
    assert (FAILING.failures, FAILING.since, FAILING.error) == (2, T0, "OperationalError: gone")
    ok = FAILING.succeeded(T0 + 2 * S)
    assert ok == Streak(0, None, None, T0 + 2 * S)
    assert Streak.from_view(FAILING.view()) == FAILING


@pytest.mark.parametrize(
    "junk",
    [
        None,
        [],
        "x",
        {"failures": "2"},
        {"failures": -1},
        {"since": "yesterday"},
        {"since": "2031-03-04T12:00:00"},
    ],
    ids=["none", "list", "text", "text-count", "negative", "bad-instant", "naive-instant"],
)
def test_a_malformed_published_streak_reads_as_no_failure(junk: object) -> None:
    assert Streak.from_view(junk) == Streak()


REASONS = [
    pytest.param({}, [], id="all-well"),
    pytest.param({"database": "no answer within 2s"}, ["database: no answer within 2s"],
                 id="database"),
    pytest.param({"scan": Streak().failed("E: x", T0)}, [], id="one-failed-tick-is-not-enough"),
    pytest.param({"scan": FAILING.failed("E: y", T0)},
                 ["scan: failed on the last 3 ticks: E: y"], id="three-failed-ticks"),
    pytest.param({"scan_running": timedelta(seconds=30)}, [], id="a-long-scan-up-to-the-floor"),
    pytest.param({"scan_running": timedelta(seconds=31)},
                 ["scan: running for 31s without an answer (the limit is 30s)"],
                 id="a-scan-past-the-floor"),
    pytest.param({"writes": Streak().failed("E: full", T0)},
                 ["writes: the last outcome write failed: E: full"], id="one-failed-write"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "expected"), REASONS)
def test_unready_reasons(given: dict[str, object], expected: list[str]) -> None:
    args: dict[str, object] = {
        "database": None, "scan": Streak(), "scan_running": None, "writes": Streak(),
        "interval": S, "max_scan_failures": 3,
    }  # fmt: skip
    assert unready_reasons(**{**args, **given}) == expected  # type: ignore[arg-type]


def test_the_stuck_scan_limit_follows_a_long_interval() -> None:
    found = unready_reasons(
        database=None, scan=Streak(), writes=Streak(), max_scan_failures=3,
        scan_running=timedelta(minutes=2), interval=timedelta(minutes=1),
    )  # fmt: skip
    assert found == []  # 3 intervals of 1m: 3m


FRESH = T0 - 10 * S
VERDICTS = [
    pytest.param({}, EXIT_OK, [], id="all-well"),
    pytest.param({"last_scan": None}, EXIT_STALE,
                 ["no scan was ever published: is notifier run up?"], id="never-published"),
    pytest.param({"last_scan": T0 - 91 * S}, EXIT_STALE,
                 ["no scan for 1m31s on a 30s interval: the daemon looks stale"], id="stale"),
    pytest.param({"last_scan": T0 - 90 * S}, EXIT_OK, [], id="three-intervals-exactly"),
    pytest.param({"backlog": Backlog(2, T0, 0)}, EXIT_OK, [], id="sending-within-lease"),
    pytest.param({"backlog": Backlog(2, T0, 1)}, EXIT_STUCK,
                 ["1 notification stuck in sending past the lease: a process died mid-send, "
                  "or recovery cannot resolve them"], id="past-lease"),
    pytest.param({"plan_errors": 2}, EXIT_STUCK,
                 ["2 promises in plan error: the rules cannot plan them"], id="plan-errors"),
    pytest.param({"scan": FAILING}, EXIT_OK,
                 ["the scan failed on the last 2 ticks: OperationalError: gone"],
                 id="failing-scan-not-yet-stale"),
    pytest.param({"last_scan": T0 - 91 * S, "plan_errors": 1}, EXIT_STALE,
                 ["no scan for 1m31s on a 30s interval: the daemon looks stale",
                  "1 promise in plan error: the rules cannot plan them"], id="stale-wins"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "code", "texts"), VERDICTS)
def test_assess(given: dict[str, object], code: int, texts: list[str]) -> None:
    args: dict[str, object] = {
        "now": T0, "interval": 30 * S, "last_scan": FRESH, "scan": Streak(), "writes": Streak(),
        "dispatch": Streak(), "backlog": Backlog(), "plan_errors": 0,
    }  # fmt: skip
    found = assess(**{**args, **given})  # type: ignore[arg-type]
    assert [f.text for f in found] == texts
    assert exit_code(found) == code


def test_stale_outranks_stuck_and_notices_change_nothing() -> None:
    assert exit_code([Finding(EXIT_OK, "a"), Finding(EXIT_STUCK, "b")]) == EXIT_STUCK
    assert exit_code([Finding(EXIT_STUCK, "b"), Finding(EXIT_STALE, "c")]) == EXIT_STALE


def test_describe_keeps_the_drivers_first_line_masked_never_the_sql() -> None:
    class Driver(Exception): ...

    class Wrapped(Exception):
        orig = Driver("could not write +5491155550101\nDETAIL: more")

    line = describe(Wrapped("[SQL: UPDATE customers SET email='ana@example.com']"))
    assert line == "Driver: could not write +54911****0101"
    assert describe(TimeoutError()) == "TimeoutError"

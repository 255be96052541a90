"""Bounded rules: durations within limits, business time the calendar resolves, linear regexes.

Each refusal is checked where ``rules check`` reports it, as ``line:column: message``;
what passes the checker never fails at scan time.
"""
# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.domain.calendars import (
    BusinessDuration,
    Calendar,
    add_business_time,
    max_business_seconds,
    subtract_business_time,
)
from notifier.domain.notices import SentLedger
from notifier.domain.rules.evaluate import evaluate
from notifier.domain.rules.match import matches
from notifier.domain.rules.regex import Regex
from notifier.engine.rulefiles.check import load_rules
from tests.rules_fixtures import customer, promise, ruleset

NOTIFY = "    notify: {message: m}\n"
RE2 = "patterns run on RE2, which matches in time linear in the text and never backtracks"


def problems_of(tmp_path: Path, rule: str) -> list[str]:
    (tmp_path / "r.yaml").write_text("rules:\n  - id: r\n" + rule)
    load = load_rules(tmp_path)
    assert load.rules is None
    return [f"{p.line}:{p.column}: {p.message}" for p in load.problems]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("    when: {overdue: 99999999999999d}\n" + NOTIFY, "3:21: invalid duration '99999999999999d': at most 3650d (ten years)", id="overdue-overflows"),
        pytest.param("    when: {overdue: 3651d}\n" + NOTIFY, "3:21: invalid duration '3651d': at most 3650d (ten years)", id="overdue-one-day-too-long"),
        pytest.param("    when: {before_due: 522w}\n" + NOTIFY, "3:24: invalid duration '522w': at most 3650d (ten years)", id="before-due-weeks"),
        pytest.param("    when: {overdue: 1h, for: 87601h}\n" + NOTIFY, "3:30: invalid duration '87601h': at most 3650d (ten years)", id="for"),
        pytest.param("    when: {overdue: 1h}\n    notify: {message: m, repeat: {every: 99999999999999999999d, max: 2}}\n", "4:42: invalid duration '99999999999999999999d': at most 3650d (ten years)", id="every"),
        pytest.param("    when: {overdue: 1h}\n    backfill: 1000000000000000000000000s\n" + NOTIFY, "4:15: invalid duration '1000000000000000000000000s': at most 3650d (ten years)", id="backfill"),
        pytest.param("    when: {overdue: 5000 business_days}\n" + NOTIFY, "3:21: invalid duration '5000 business_days': at most 260 business_days, a year of this calendar's working days", id="business-days"),
        pytest.param("    when: {before_due: 2341 business_hours}\n" + NOTIFY, "3:24: invalid duration '2341 business_hours': at most 2340 business_hours, a year of this calendar's working hours", id="business-hours"),
        pytest.param("    when: {overdue: 157 business_days}\n" + NOTIFY + "    calendar: {working_days: [mon, wed, fri]}\n", "3:21: invalid duration '157 business_days': at most 156 business_days, a year of this calendar's working days", id="business-days-short-week"),
        pytest.param("    when: {overdue: 53 business_hours}\n" + NOTIFY + "    calendar: {working_days: [fri], working_hours: {start: '09:00', end: '10:00'}}\n", "3:21: invalid duration '53 business_hours': at most 52 business_hours, a year of this calendar's working hours", id="business-hours-short-day"),
        pytest.param("    when: {overdue: 99999999999999999999999 business_days}\n" + NOTIFY, "3:21: invalid duration '99999999999999999999999 business_days': more than a year of working time", id="business-days-absurd"),
        pytest.param("    match: {attributes.carrier: {regex: '(a)\\1'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex '(a)\\\\1': backreferences (\\1) are not supported: {RE2}", id="backreference"),
        pytest.param("    match: {attributes.carrier: {regex: '(?P<x>a)(?P=x)'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex '(?P<x>a)(?P=x)': backreferences ((?P=name)) are not supported: {RE2}", id="named-backreference"),
        pytest.param("    match: {attributes.carrier: {regex: 'fast(?=er)'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex 'fast(?=er)': lookahead ((?=...)) is not supported: {RE2}", id="lookahead"),
        pytest.param("    match: {attributes.carrier: {regex: '(?<!x)y'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex '(?<!x)y': lookbehind ((?<!...)) is not supported: {RE2}", id="lookbehind"),
        pytest.param("    match: {attributes.carrier: {regex: '^a++$'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex '^a++$': possessive quantifiers (a*+, a++) are not supported: {RE2}", id="possessive"),
        pytest.param("    match: {attributes.carrier: {regex: '(?>ab|a)c'}}\n    when: {overdue: 1h}\n" + NOTIFY, f"3:41: invalid regex '(?>ab|a)c': atomic groups ((?>...)) are not supported: {RE2}", id="atomic"),
        pytest.param("    match: {attributes.carrier: {regex: 'x{1001}'}}\n    when: {overdue: 1h}\n" + NOTIFY, "3:41: invalid regex 'x{1001}': RE2 cannot run it (invalid repetition size: {1001})", id="repetition-too-large"),
    ],
)  # fmt: skip
def test_refused_with_path_line_column(tmp_path: Path, rule: str, expected: str) -> None:
    assert problems_of(tmp_path, rule) == [expected]


def test_the_file_is_named_in_the_refusal(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: r\n    when: {overdue: 99999999999999d}\n" + NOTIFY
    )
    [problem] = load_rules(tmp_path).problems
    assert (
        str(problem)
        == f"{tmp_path / 'r.yaml'}:3:21: invalid duration '99999999999999d': at most 3650d (ten years)"
    )


def test_the_limits_themselves_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - {id: a, when: {overdue: 3650d, for: 3650d}, backfill: 3650d, notify: {message: m, repeat: {every: 3650d, max: 100}}}\n"
        "  - {id: b, when: {overdue: 260 business_days}, notify: {message: m}}\n"
        "  - {id: c, when: {before_due: 2340 business_hours}, notify: {message: m}}\n"
    )
    load = load_rules(tmp_path)
    assert load.problems == ()


LIMITS = """
rules:
  - id: far
    when: {overdue: 3650d, for: 3650d}
    backfill: 3650d
    notify: {message: m, repeat: {every: 3650d, max: 100}}
  - id: business-late
    when: {overdue: 260 business_days}
    notify: {message: m}
    calendar: {country: AR}
  - id: business-ahead
    when: {before_due: 2340 business_hours}
    notify: {message: m}
    calendar: {country: AR}
"""


@pytest.mark.parametrize("year", [1971, 2026, 2199])
def test_rules_at_the_limits_never_fail_at_scan_time(year: int) -> None:
    due = datetime(year, 12, 24, 15, tzinfo=UTC)
    for now in (due - timedelta(days=400), due + timedelta(days=3650 * 101)):
        notices, _ = evaluate(
            promise(due_at=due), customer(), ruleset(LIMITS), SentLedger(frozenset()), now
        )
        assert all(n.not_before.year <= 9999 for n in notices)


@pytest.mark.parametrize("country", ["AR", "BR", "IN", "LK", "NP", "US"])
@pytest.mark.parametrize(
    "calendar",
    [
        pytest.param(Calendar(), id="mon-fri"),
        pytest.param(Calendar(weekdays=frozenset({0})), id="mondays"),
        pytest.param(Calendar(weekdays=frozenset({4}), workday_start=time(9), workday_end=time(10)), id="friday-hour"),
    ],
)  # fmt: skip
def test_the_most_business_time_allowed_always_resolves(country: str, calendar: Calendar) -> None:
    cal = Calendar(country, None, calendar.workday_start, calendar.workday_end, calendar.weekdays)
    most = max_business_seconds(cal)
    day = int(cal.day_length.total_seconds())
    for amount in (BusinessDuration(days=most // day), BusinessDuration(hours=most // 3600)):
        for year in (2024, 2027, 2031):
            start = datetime(year, 12, 20, 12, tzinfo=UTC)
            zone = ZoneInfo("America/Lima")
            assert add_business_time(start, amount, cal, zone) > start
            assert subtract_business_time(start, amount, cal, zone) < start


def test_a_catastrophic_pattern_runs_on_re2_without_backtracking() -> None:
    rules = ruleset(
        "rules:\n  - id: r\n    match: {attributes.code: {regex: '^(a+)+$'}}\n    when: {overdue: 1h}\n"
        + NOTIFY
    )
    [rule] = rules.rules
    [condition] = rule.match
    assert isinstance(condition.value, Regex)
    assert type(condition.value.compiled).__module__.startswith("re2")
    # 28 characters froze Python's backtracking engine for 14 s, doubling with each one
    # more; with RE2 a far longer text is a linear pass.
    attack = "a" * 10_000 + "!"
    assert not matches(rule, promise(attributes={"code": attack}), customer())
    assert matches(rule, promise(attributes={"code": "aaaa"}), customer())


def test_re2_syntax_that_python_lacks_is_accepted() -> None:
    rules = ruleset(
        "rules:\n  - id: r\n    match: {customer.name: {regex: '^\\pL+$'}}\n    when: {overdue: 1h}\n"
        + NOTIFY
    )
    [rule] = rules.rules
    assert matches(rule, promise(), customer(name="José"))
    assert not matches(rule, promise(), customer(name="José 2"))

"""Crisis rules (issue 20): parsed from ``crisis:`` lists, and the decisions over counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.domain.detection import (
    CrisisRule,
    GroupCount,
    Thresholds,
    baseline,
    covers,
    holds,
    is_rearmed,
    numbers_of,
    segment_spec,
)
from notifier.domain.incidents import Severity
from notifier.engine.crisis.detector import rendered_titles
from notifier.engine.rulefiles.check import load_rules
from notifier.templates.title_templates import TitleTemplates

# The issue's carrier-breakdown rule, as shipped (at 4x: bench/crisis_3x.yaml).
SHIPPED = Path(__file__).parents[2] / "rules" / "crisis.yaml"
ISSUE_RULE = SHIPPED.read_text()


def _load(tmp_path: Path, text: str) -> CrisisRule:
    (tmp_path / "crisis.yaml").write_text(text)
    load = load_rules(tmp_path)
    assert load.rules is not None, [str(p) for p in load.problems]
    [rule] = load.rules.crisis
    return rule


def test_the_issue_rule_loads_with_every_key(tmp_path: Path) -> None:
    rule = _load(tmp_path, ISSUE_RULE)
    assert rule.id == "carrier-breakdown"
    assert rule.match == {"kind": ("delivery",)}
    assert rule.group_by == ("attributes.carrier", "attributes.region")
    assert rule.window == timedelta(hours=2)
    assert rule.when == Thresholds(25, 0.2, 4.0)  # 4x, tuned from the month's replay
    assert rule.count == frozenset({"broken", "at_risk"})
    assert rule.hold == timedelta(minutes=10)
    assert rule.notify_customers == "confirm"
    assert rule.severity is Severity.MAJOR
    assert rendered_titles(rule, ("andreani", "AMBA"), TitleTemplates()) == {
        "es": "Demoras con Andreani en AMBA",
        "en": "Delays with Andreani in AMBA",
        "pt-BR": "Atrasos com Andreani em AMBA",
    }


def test_defaults_when_optional_keys_are_left_out(tmp_path: Path) -> None:
    rule = _load(
        tmp_path,
        "crisis:\n  - id: r\n    group_by: [attributes.carrier]\n    window: 1h\n"
        "    when: {share_at_least: 50%}\n    incident: {title: {es: Demoras}}\n",
    )
    assert rule.count == frozenset({"broken"})
    assert rule.hold == timedelta(0)
    assert rule.notify_customers == "confirm"
    assert rule.when == Thresholds(None, 0.5, None)


def test_crisis_beside_rules_in_one_file(tmp_path: Path) -> None:
    text = "rules:\n  - id: a\n    when: {overdue: 1h}\n    notify: {message: m}\n" + ISSUE_RULE
    (tmp_path / "both.yaml").write_text(text)
    load = load_rules(tmp_path)
    assert load.rules is not None
    assert [r.id for r in load.rules.rules] == ["a"]
    assert [r.id for r in load.rules.crisis] == ["carrier-breakdown"]


def test_a_broken_crisis_rule_refuses_the_whole_set(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ISSUE_RULE.replace("20%", "20"))
    load = load_rules(tmp_path)
    assert load.rules is None
    line = next(n for n, t in enumerate(ISSUE_RULE.splitlines(), 1) if "share_at_least" in t)
    assert [f"{p.line}:{p.column}: {p.message}" for p in load.problems] == [
        f"{line}:23: invalid percentage 20: use a share above 0% and at most 100%, e.g. 20%"
    ]


def test_duplicate_crisis_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ISSUE_RULE)
    (tmp_path / "b.yaml").write_text("# again\n" + ISSUE_RULE)
    load = load_rules(tmp_path)
    assert load.rules is None
    [problem] = load.problems
    line = next(n for n, t in enumerate(ISSUE_RULE.splitlines(), 1) if "- id:" in t) + 1
    assert (problem.file, problem.line, problem.column) == (str(tmp_path / "b.yaml"), line, 9)
    assert problem.message.startswith("duplicate crisis rule id 'carrier-breakdown' (first at ")


RULE = CrisisRule(
    "r", {"kind": ("delivery",)}, ("attributes.carrier",), timedelta(hours=2),
    Thresholds(25, 0.2, 3.0),
)  # fmt: skip


@pytest.mark.parametrize(
    ("broken", "due", "history", "held"),
    [
        pytest.param(30, 100, 0, True, id="burst-of-a-calm-group"),
        pytest.param(24, 100, 0, False, id="too-few"),
        pytest.param(30, 200, 0, False, id="too-small-a-share"),
        pytest.param(30, 100, 84 * 12, False, id="usual-for-this-group"),  # 12 a window
        pytest.param(36, 100, 84 * 12, True, id="three-times-the-usual"),
        pytest.param(0, 0, 0, False, id="empty-window"),
    ],
)
def test_conditions(broken: int, due: int, history: int, held: bool) -> None:
    numbers = numbers_of(GroupCount(("andreani",), broken, due, history), RULE.window)
    assert holds(RULE, numbers) is held


def test_without_the_baseline_only_what_the_baseline_refused_holds() -> None:
    # The detector reads the week's history only for groups that hold this way.
    usual = numbers_of(GroupCount(("andreani",), 30, 100, 84 * 12), RULE.window)
    assert not holds(RULE, usual) and holds(RULE, usual, baseline=False)
    for broken, due in ((24, 100), (30, 200), (0, 0)):
        numbers = numbers_of(GroupCount(("andreani",), broken, due, 0), RULE.window)
        assert not holds(RULE, numbers, baseline=False)


def test_nothing_counted_never_holds_even_without_thresholds() -> None:
    rule = CrisisRule("r", {}, ("kind",), timedelta(hours=1), Thresholds(above_baseline=1.0))
    assert not holds(rule, numbers_of(GroupCount(("x",), 0, 0, 0), rule.window))
    assert holds(rule, numbers_of(GroupCount(("x",), 1, 0, 0), rule.window))


def test_baseline_is_the_mean_per_window_over_seven_days_with_a_floor() -> None:
    assert baseline(0, timedelta(hours=2)) == 1.0  # no history: at least above_baseline breaks
    assert baseline(168, timedelta(hours=1)) == 1.0
    assert baseline(840, timedelta(hours=2)) == 10.0


def test_share_never_exceeds_one_when_more_are_counted_than_due() -> None:
    numbers = numbers_of(GroupCount(("x",), 10, 4, 0), timedelta(hours=1))
    assert (numbers.due, numbers.share) == (10, 1.0)


def test_segment_and_coverage() -> None:
    spec = segment_spec(RULE, ("andreani",))
    assert spec == {"kind": ["delivery"], "attributes.carrier": ["andreani"]}
    assert covers({"attributes.carrier": ["andreani", "oca"]}, spec)
    assert covers({"kind": ["delivery"], "attributes.carrier": ["andreani"]}, spec)
    assert not covers({"attributes.carrier": ["oca"]}, spec)
    assert not covers({"attributes.region": ["AMBA"]}, spec)  # narrower on another field
    assert not covers({"due_at": {"before": "2026-12-04T00:00:00+00:00"}}, spec)
    assert not covers({"status": ["broken"]}, spec)


def test_rearmed_only_after_a_whole_window_false() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert not is_rearmed(None, timedelta(hours=2), now)
    assert not is_rearmed(now - timedelta(minutes=119), timedelta(hours=2), now)
    assert is_rearmed(now - timedelta(hours=2), timedelta(hours=2), now)


def test_rules_check_counts_the_crisis_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "crisis.yaml").write_text(ISSUE_RULE)
    (tmp_path / "templates" / "m").mkdir(parents=True)
    for locale in ("es", "en", "pt-BR"):  # the locales the titles are in
        (tmp_path / "templates" / "m" / f"sms.{locale}.j2").write_text("Hola")
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out.strip() == "ok: 0 rules, 1 crisis rules in 1 files"
    (tmp_path / "templates" / "m" / "sms.en.j2").unlink()
    assert main(["rules", "check"]) == 1
    [problem] = capsys.readouterr().err.splitlines()
    assert problem.endswith("no templates in locale 'en': the templates ship es, pt-BR")

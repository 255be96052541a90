"""The maintenance files' checker: every problem at path:line:column, with the rules."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.domain.incident_match import match_spec
from notifier.domain.incident_texts import MAX_TEXT
from notifier.domain.incidents import IncidentError, Severity, check_channels, segment_of
from notifier.domain.maintenance_file import parse_maintenance_file
from notifier.domain.models import JSONValue
from notifier.engine.crisis.commands import Texts
from notifier.engine.rulefiles.check import load_rules
from notifier.templates import Renderer
from tests.unit.test_rules_check import located

CORPUS = Path(__file__).parent / "maintenance_corpus"
ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EXPECT = re.compile(r"^# expect: (\d+:\d+: .*)$", re.MULTILINE)
WINDOW = """maintenance:
  - id: pagos-2026-12-20
    title: {es: Mantenimiento de pagos, en: Payments maintenance}
    match: {kind: refund, attributes.gateway: [mercadopago]}
    start: 2026-12-20T02:00:00-03:00
    end: 2026-12-20T05:00:00-03:00
"""


def _incidents(rules: Path) -> Path:
    (rules / "incidents").mkdir(parents=True, exist_ok=True)
    return rules / "incidents"


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_corpus_reports_every_problem_where_it_is(case: Path, tmp_path: Path) -> None:
    shutil.copy(case, _incidents(tmp_path) / case.name)
    load = load_rules(tmp_path)
    assert load.rules is None and load.maintenance == ()
    assert located(load.problems) == set(EXPECT.findall(case.read_text()))
    assert {p.file for p in load.problems} == {str(tmp_path / "incidents" / case.name)}


def test_a_valid_window_loads_with_its_defaults(tmp_path: Path) -> None:
    (_incidents(tmp_path) / "pagos.yaml").write_text(WINDOW)
    load = load_rules(tmp_path)
    assert load.problems == ()
    [m] = load.maintenance
    assert (m.id, m.source, m.severity) == ("pagos-2026-12-20", "maintenance:pagos-2026-12-20",
                                            Severity.MINOR)  # fmt: skip
    assert m.start == datetime(2026, 12, 20, 5, 0, tzinfo=UTC)
    assert m.end == datetime(2026, 12, 20, 8, 0, tzinfo=UTC)
    assert m.segment == {"kind": ["refund"], "attributes.gateway": ["mercadopago"]}
    assert m.updates_on == ("email", "x") and m.passes_quiet_hours is False
    assert load.maintenance_files == (str(tmp_path / "incidents" / "pagos.yaml"),)


def test_values_read_as_the_command_line_reads_them(tmp_path: Path) -> None:
    (_incidents(tmp_path) / "x.yml").write_text(
        WINDOW.replace("{kind: refund, attributes.gateway: [mercadopago]}",
                       "{attributes.amount: 3, attributes.urgent: true, due_at: "
                       "{before: '2026-12-21T00:00:00-03:00'}}")
        + "    updates_on: []\n    through_quiet_hours: true\n    severity: critical\n"
    )  # fmt: skip
    [m] = load_rules(tmp_path).maintenance
    assert m.segment == {
        "attributes.amount": ["3"], "attributes.urgent": ["true"],
        "due_at": {"before": "2026-12-21T03:00:00+00:00"},
    }  # fmt: skip
    assert m.updates_on == () and m.passes_quiet_hours and m.severity is Severity.CRITICAL


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    folder = _incidents(tmp_path)
    (folder / "a.yaml").write_text(WINDOW)
    (folder / "b.yaml").write_text("# the same again\n" + WINDOW)
    load = load_rules(tmp_path)
    assert load.rules is None
    [problem] = load.problems
    first = folder / "a.yaml"
    assert str(problem) == (
        f"{folder / 'b.yaml'}:3:9: duplicate maintenance id 'pagos-2026-12-20' "
        f"(first at {first}:2:9)"
    )


def test_a_text_too_long_for_two_sms_is_refused_at_its_locale(tmp_path: Path) -> None:
    long = "El mantenimiento de los pagos terminó y los reintegros vuelven a procesarse. " * 2
    (_incidents(tmp_path) / "pagos.yaml").write_text(
        WINDOW + f"    messages:\n      resolved:\n        EN: Done.\n        es: {long}\n"
    )
    load = load_rules(tmp_path, Renderer(ROOT / "templates", max_sms_segments=2))
    assert load.rules is None
    [problem] = load.problems
    assert (problem.line, problem.column) == (10, 13)
    assert re.fullmatch(r"the crisis_resolved SMS in es takes \d segments "
                        r"\(NOTIFIER_MAX_SMS_SEGMENTS is 2\): shorten it",
                        problem.message)  # fmt: skip


def test_a_title_too_long_is_refused_at_the_title(tmp_path: Path) -> None:
    title = "Mantenimiento programado del sistema de pagos y reintegros de Mercado Pago " * 2
    (_incidents(tmp_path) / "pagos.yaml").write_text(
        WINDOW.replace("es: Mantenimiento de pagos", f"es: {title}")
    )
    load = load_rules(tmp_path, Renderer(ROOT / "templates", max_sms_segments=2))
    lines = {(p.line, p.column) for p in load.problems if "SMS in es" in p.message}
    assert load.rules is None and lines == {(3, 17)}


def test_the_shipped_file_plans_nothing_and_its_commented_example_is_valid(
    tmp_path: Path,
) -> None:
    renderer = Renderer(ROOT / "templates", max_sms_segments=2)
    shipped = load_rules(ROOT / "rules", renderer)
    assert shipped.rules is not None and shipped.maintenance == ()
    assert [Path(f).name for f in shipped.maintenance_files] == ["maintenance.yaml"]
    text = (ROOT / "rules" / "incidents" / "maintenance.yaml").read_text()
    example = text[text.index("# maintenance:") : text.index("\nmaintenance: []")]
    uncommented = "\n".join(line.removeprefix("#").removeprefix(" ") for line in
                            example.splitlines())  # fmt: skip
    (_incidents(tmp_path) / "example.yaml").write_text(uncommented + "\n")
    load = load_rules(tmp_path, renderer)
    assert [str(p) for p in load.problems] == []
    assert [m.id for m in load.maintenance] == ["pagos-2026-12-20"]


def test_cli_points_at_the_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # rules check renders every shipped template: a loaded machine must not time one out.
    monkeypatch.setenv("NOTIFIER_RENDER_TIMEOUT", "60s")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "incidents" / "pagos.yaml").write_text(WINDOW)
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out.strip().endswith("; 1 planned maintenance in 2 files")
    (tmp_path / "rules" / "incidents" / "pagos.yaml").write_text(
        WINDOW.replace("end: 2026-12-20T05", "end: 2026-12-20T01")
    )
    assert main(["rules", "check"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "rules/incidents/pagos.yaml:6:10: end 2026-12-20T01:00:00-03:00 is not after start "
        "2026-12-20T02:00:00-03:00"
    ]


def _window_data(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "pagos", "title": {"es": "Pagos"}, "match": {"kind": "refund"},
        "start": "2026-12-20T02:00:00-03:00", "end": "2026-12-20T05:00:00-03:00",
    }  # fmt: skip
    return {"maintenance": [{**item, **changes}]}


def _api_refusal(match: dict[str, JSONValue]) -> str:
    """What ``POST /v1/incidents`` (through the commands) says of ``match``."""
    with pytest.raises(IncidentError) as caught:
        segment_of(match_spec(match, NOW))
    return caught.value.reason


@pytest.mark.parametrize(
    "match",
    [
        pytest.param({"kinds": "refund"}, id="unknown-field"),
        pytest.param({"kind": []}, id="empty-list"),
        pytest.param({"kind": " "}, id="empty-value"),
        pytest.param({"attributes.gateway": None}, id="null"),
        pytest.param({"attributes.amount": [3, {"a": 1}]}, id="nested"),
        pytest.param({"status": ["open", "kept"]}, id="settled-status"),
    ],
)
def test_a_segment_is_refused_in_the_api_s_words(match: dict[str, JSONValue]) -> None:
    windows, errors = parse_maintenance_file(_window_data(match=match))
    assert windows == []
    [error] = errors
    assert error.message == _api_refusal(match)


def test_what_the_api_accepts_a_file_reads_the_same() -> None:
    match: dict[str, JSONValue] = {
        "kind": ["refund", "delivery"], "attributes.amount": 3, "attributes.urgent": True,
        "customer.locale": "pt-BR", "due_at": {"before": "2026-12-21T00:00:00-03:00"},
    }  # fmt: skip
    [(_, window)], errors = parse_maintenance_file(_window_data(match=match))
    assert errors == [] and window.segment == match_spec(match, NOW)


def test_a_file_has_no_now_and_its_examples_say_so() -> None:
    match: dict[str, JSONValue] = {"due_at": {"before": "now+1d"}}
    assert match_spec(match, NOW)  # the API reads it against the clock
    _, [error] = parse_maintenance_file(_window_data(match=match))
    assert error.message == (
        "invalid time 'now+1d': use ISO 8601 with an offset (2026-11-24T09:00:00-03:00), not now+2h"
    )
    side: dict[str, JSONValue] = {"due_at": {"befor": "2026-12-20T00:00:00-03:00"}}
    _, [error] = parse_maintenance_file(_window_data(match=side))
    head = "unknown key 'befor' (did you mean 'before'?); use {\"before\": TIME}"
    assert error.message.startswith(head) and _api_refusal(side).startswith(head)
    assert "now+1d" in _api_refusal(side) and "now+1d" not in error.message


LONG = "x" * (MAX_TEXT + 1)


@pytest.mark.parametrize(
    ("changes", "command"),
    [
        pytest.param({"title": {"english": "Pagos"}},
                     lambda: Texts(None, (), "--title", {"english": "Pagos"}).parsed("es"),
                     id="locale"),
        pytest.param({"title": {"es": LONG}},
                     lambda: Texts(None, (), "--title", {"es": LONG}).parsed("es"), id="long"),
        pytest.param({"updates_on": ["email", "fax"]}, lambda: check_channels(["email", "fax"]),
                     id="channel"),
    ],
)  # fmt: skip
def test_texts_and_channels_are_refused_as_the_commands_refuse_them(
    changes: dict[str, object], command: Callable[[], object]
) -> None:
    _, [error] = parse_maintenance_file(_window_data(**changes))
    with pytest.raises(IncidentError) as caught:
        command()
    assert error.message.endswith(caught.value.reason)

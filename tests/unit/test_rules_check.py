"""The rule checker: a corpus of broken files, duplicate ids, templates, the CLI."""

from __future__ import annotations

import re
import shutil
import tracemalloc
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.domain.problems import Problem
from notifier.engine.rulefiles.check import load_rules
from notifier.templates import Renderer

CORPUS = Path(__file__).parent / "rules_corpus"
ROOT = Path(__file__).parents[2]
EXPECT = re.compile(r"^# expect: (\d+:\d+: .*)$", re.MULTILINE)


def located(problems: tuple[Problem, ...] | list[Problem]) -> set[str]:
    return {f"{p.line}:{p.column}: {p.message}" for p in problems}


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_corpus_reports_every_problem_where_it_is(case: Path, tmp_path: Path) -> None:
    shutil.copy(case, tmp_path / case.name)
    load = load_rules(tmp_path)
    assert load.rules is None
    assert located(load.problems) == set(EXPECT.findall(case.read_text()))
    assert {p.file for p in load.problems} == {str(tmp_path / case.name)}


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"rules:\n  - id: \xff\xfe\n")
    assert located(load_rules(tmp_path).problems) == {"2:1: not UTF-8 text: byte 0xff"}


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    rule = "rules:\n  - id: same\n    when: {overdue: 1h}\n    notify: {message: m}\n"
    (tmp_path / "a.yaml").write_text(rule)
    (tmp_path / "b.yml").write_text("# another file\n" + rule)
    load = load_rules(tmp_path)
    assert load.rules is None
    [problem] = load.problems
    assert (problem.file, problem.line, problem.column) == (str(tmp_path / "b.yml"), 3, 9)
    assert problem.message == f"duplicate rule id 'same' (first at {tmp_path / 'a.yaml'}:2:9)"


def test_a_valid_directory_loads_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("rules: [{id: b, when: {on: kept}, notify: {message: m}}]")
    (tmp_path / "a.yaml").write_text("rules: [{id: a, when: {on: kept}, notify: {message: m}}]")
    (tmp_path / "notes.txt").write_text("not a rule file")
    load = load_rules(tmp_path)
    assert load.problems == ()
    assert load.rules is not None
    assert [r.id for r in load.rules.rules] == ["a", "b"]


def test_missing_directory(tmp_path: Path) -> None:
    load = load_rules(tmp_path / "nowhere")
    assert located(load.problems) == {"1:1: rules directory not found"}


def _templates(root: Path) -> Path:
    """A small templates folder: m on sms and email only, a broken one, a long SMS."""
    for name, body in {
        "m/sms.es.j2": "Hola {{ customer.name }}",
        "m/email.es.j2": "{% block subject %}Hola{% endblock %}{% block text %}Hola{% endblock %}",
        "m/sms.en.j2": "Hi",
        "m/email.en.j2": "{% block subject %}Hi{% endblock %}{% block text %}Hi{% endblock %}",
        "broken/sms.es.j2": "Hola\n{{ nope.missing }}",
        "broken/sms.en.j2": "Hi {% if %}",
        "long/sms.es.j2": "{% for i in range(40) %}Perdón por la demora. {% endfor %}",
        "long/sms.en.j2": "short",
    }.items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return root / "templates"


def test_templates_every_reachable_channel_and_locale(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        """rules:
  - id: fixed
    when: {overdue: 1h}
    notify: {message: m, channel: sms, fallback: [email]}
  - id: anywhere
    when: {overdue: 1h}
    notify: {message: m}
  - id: typo
    when: {overdue: 1h}
    notify: {message: mm, channel: sms}
  - id: broken
    when: {overdue: 1h}
    notify: {message: broken, channel: sms}
  - id: long
    when: {overdue: 1h}
    notify: {message: long, channel: sms}
"""
    )
    templates = _templates(tmp_path)
    load = load_rules(rules, Renderer(templates, max_sms_segments=3))
    assert load.rules is None
    by_file: dict[str, set[str]] = {}
    for p in load.problems:
        by_file.setdefault(Path(p.file).name, set()).add(f"{p.line}:{p.column}: {p.severity}")
    messages = [p.message for p in load.problems]
    assert "unknown message 'mm' (did you mean 'm'?): no templates/mm/ folder" in messages
    missing = [m for m in messages if m.startswith("no ")]
    assert sorted(missing) == [
        "no whatsapp template for message 'm' in en, es (rule 'anywhere' can send on whatsapp)",
        "no x template for message 'm' in en, es (rule 'anywhere' can send on x)",
    ]
    # Render problems are reported at the template's own path:line:column.
    assert "2:4: error" in by_file["sms.es.j2"]
    assert any(p.severity == "warning" and Path(p.file).parts[-2:] == ("long", "sms.es.j2")
               for p in load.problems)  # fmt: skip
    assert any(Path(p.file).parts[-2:] == ("broken", "sms.en.j2") for p in load.problems)


def test_shipped_rules_pass_with_shipped_templates() -> None:
    load = load_rules(ROOT / "rules", Renderer(ROOT / "templates"))
    assert [str(p) for p in load.problems if p.severity == "error"] == []
    assert load.rules is not None
    assert {r.id for r in load.rules.rules} >= {
        "delivery-at-risk", "delivery-late", "refund-late", "callback-missed",
        "appointment-rescheduled", "promise-kept",
    }  # fmt: skip


def test_cli_exit_codes_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # rules check renders every shipped template: a loaded machine must not time one out.
    monkeypatch.setenv("NOTIFIER_RENDER_TIMEOUT", "60s")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    shutil.copy(CORPUS / "bad_values.yaml", tmp_path / "rules" / "zz.yaml")
    assert main(["rules", "check", "--rules", "rules", "--templates", "templates"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(EXPECT.findall((CORPUS / "bad_values.yaml").read_text()))
    assert all(line.startswith("rules/zz.yaml:") for line in err)
    assert main(["rules", "check", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"ok": false' in out and '"line": 5' in out


def test_cli_warnings_alone_exit_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _templates(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules: [{id: l, when: {overdue: 1h}, notify: {message: long, channel: sms}}]"
    )
    assert main(["rules", "check"]) == 0
    err = capsys.readouterr().err
    assert "templates/long/sms.es.j2:" in err and "warning:" in err


def test_the_examples_in_the_docs_are_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    blocks = re.findall(r"```yaml\n((?:rules:\n|  - id: ).*?)```", text, re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        body = block if block.startswith("rules:") else "rules:\n" + block
        (tmp_path / f"doc{i}.yaml").write_text(body.replace("id: ", f"id: d{i}-"))
    assert [str(p) for p in load_rules(tmp_path).problems] == []


def test_a_template_that_raises_any_error_is_a_problem_at_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules: [{id: r, when: {overdue: 1h}, notify: {message: m, channel: sms}}]"
    )
    templates = _templates(tmp_path)
    (templates / "m" / "sms.es.j2").write_text("Hola\n{{ 1 / 0 }}\n")
    load = load_rules(rules, Renderer(templates))
    assert load.rules is None
    assert [str(p) for p in load.problems] == [
        f"{templates / 'm' / 'sms.es.j2'}:2:1: cannot render: ZeroDivisionError: division by zero"
    ]


def test_an_ops_template_is_checked_though_no_rule_names_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules: [{id: r, when: {overdue: 1h}, notify: {message: m, channel: sms}}]"
    )
    templates = _templates(tmp_path)
    (templates / "ops_down").mkdir()
    broken = templates / "ops_down" / "email.en.j2"
    broken.write_text(
        "{% block subject %}s{% endblock %}\n{% block text %}\n{{ 1 / 0 }}{% endblock %}"
        "{% block html %}h{% endblock %}"
    )
    load = load_rules(rules, Renderer(templates))
    assert load.rules is None
    assert [str(p) for p in load.problems] == [
        f"{broken}:3:1: cannot render: ZeroDivisionError: division by zero"
    ]


TEMPLATE_FAILURES = [
    pytest.param(
        "{% set s = 'x' * 60000 %}{{ s|join(s)|length }}",
        "template exceeds the 1 MB limit on one value ('join')",
        id="join-bomb",
    ),
    pytest.param(
        "{% set l = ['x'] * 400 %}{{ ([l] * 2000)|sum(start=[]) }}",
        "template exceeds the 1 MB limit on one value ('*')",
        id="sum-bomb",
    ),
    pytest.param(
        "{% set s = 'x' * 900000 %}{{ s ~ s ~ s }}",
        "template exceeds the 1 MB limit on one value ('~')",
        id="tilde-bomb",
    ),
    pytest.param("{{ 1 / 0 }}", "cannot render: ZeroDivisionError", id="zero-division"),
    pytest.param("{{ 10.0 ** 400 }}", "cannot render: OverflowError", id="overflow"),
    pytest.param("{{ range(10**20) }}", "limit of 1000 items in one range()", id="range"),
    pytest.param("{{ [1, 2]|slice(0)|list }}", "cannot render: ZeroDivisionError", id="slice"),
]


@pytest.mark.parametrize(("body", "message"), TEMPLATE_FAILURES)
def test_cli_refuses_a_template_that_fails_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    body: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    # A loaded machine must not turn a size refusal into a time one.
    monkeypatch.setenv("NOTIFIER_RENDER_TIMEOUT", "60s")
    (tmp_path / "templates" / "m").mkdir(parents=True)
    (tmp_path / "templates" / "m" / "sms.es.j2").write_text("Hola\n" + body)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules: [{id: r, when: {overdue: 1h}, notify: {message: m, channel: sms}}]"
    )
    tracemalloc.start()
    try:
        assert main(["rules", "check"]) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("templates/m/sms.es.j2:2:")
    assert message in line
    assert peak < 60_000_000  # bytes: refused before it built what it asked for


def test_every_message_of_a_step_list_is_checked_where_it_is_named(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: late\n    when: {overdue: 1h}\n    notify:\n"
        "      message: [delivery_late, stil_late]\n      repeat: {every: 24h, max: 2}\n"
    )
    load = load_rules(tmp_path, Renderer(ROOT / "templates", max_sms_segments=2))
    hint = "(did you mean 'still_late'?): no templates/stil_late/ folder"
    assert f"5:32: unknown message 'stil_late' {hint}" in located(load.problems)

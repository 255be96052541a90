"""Crisis rule titles as sandboxed Jinja2: checked at ``rules check``, rendered per group,
and a title that fails at render time falls back instead of stopping the detection."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from notifier.domain.detection import CrisisRule, Thresholds
from notifier.engine.crisis.detector import rendered_titles
from notifier.engine.rulefiles.check import load_rules
from notifier.templates import Renderer, RenderLimits
from notifier.templates.title_templates import TitleError, TitleTemplates

ROOT = Path(__file__).parents[2]
HEAD = """\
crisis:
  - id: titles
    group_by: [attributes.carrier, attributes.region]
    window: 1h
    when: {broken_at_least: 5}
    incident:
      title:
"""
KNOWN = "a title may use group.carrier, group.region"


def _check(tmp_path: Path, titles: str) -> set[str]:
    (tmp_path / "crisis.yaml").write_text(HEAD + titles)
    load = load_rules(tmp_path, Renderer(ROOT / "templates"))
    return {f"{p.line}:{p.column}: {p.severity}: {p.message}" for p in load.problems}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param(
            'es: "Demoras con {{ group.carier }}"',
            f"8:13: error: unknown group.carier (did you mean 'group.carrier'?): {KNOWN}",
            id="misspelt-field",
        ),
        pytest.param(
            "es: \"Demoras con {{ group['zona'] }}\"",
            f"8:13: error: unknown group.zona: {KNOWN}",
            id="unknown-field-by-key",
        ),
        pytest.param(
            'es: "Demoras con {{ carrier | upper }}"',
            f"8:13: error: unknown name 'carrier' (did you mean 'group.carrier'?): {KNOWN}",
            id="bare-name",
        ),
        pytest.param(
            'es: "{% if group.region %}Demoras{% endi %}"',
            "8:13: error: syntax error in the title: Encountered unknown tag 'endi'. Jinja was "
            "looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block "
            "that needs to be closed is 'if'.",
            id="syntax",
        ),
        pytest.param(
            'es: "{% for c in group recursive %}{{ c }}{% endfor %}"',
            "8:13: error: syntax error in the title: recursive loops are not allowed in messages",
            id="sandbox-refuses-at-compile",
        ),
        pytest.param(
            'pt-br: "Atrasos com {{ group.carrier }}"',
            "8:9: error: no templates in locale 'pt-br' (did you mean 'pt-BR'?): the templates "
            "ship en, es, es-AR, pt-BR",
            id="locale-case",
        ),
        pytest.param(
            'fr: "Retards {{ group.carrier }}"',
            "8:9: error: no templates in locale 'fr': the templates ship en, es, es-AR, pt-BR",
            id="locale-not-shipped",
        ),
        pytest.param(
            'es: "Demoras {{ 1 / 0 }}"',
            "8:13: warning: the es title fails with sample values (cannot render: "
            "ZeroDivisionError: division by zero); a detection would fall back to the rule id "
            "and the group's values",
            id="fails-for-every-group",
        ),
    ],
)
def test_check_reports_each_title_at_its_locale(tmp_path: Path, title: str, expected: str) -> None:
    assert _check(tmp_path, f"        {title}\n") == {expected}


def test_a_jinja_title_with_filters_and_conditionals_passes(tmp_path: Path) -> None:
    titles = (
        "        es: \"{% if group.region == 'AMBA' %}Demoras en el AMBA{% else %}Demoras en "
        '{{ group.region }}{% endif %} con {{ group.carrier | title }}"\n'
        "        en: \"Delays with {{ group['carrier'] | upper }} in {{ group.region }}\"\n"
        "        es-AR: \"Demoras con {{ group.carrier | replace('_', ' ') | title }}\"\n"
    )
    assert _check(tmp_path, titles) == set()


def test_every_title_problem_of_a_file_at_once(tmp_path: Path) -> None:
    titles = '        es: "{{ group.carier }}"\n        en: "{{ group.carrier }"\n'
    assert {p.split(": ")[0] for p in _check(tmp_path, titles)} == {"8:13", "9:13"}


@pytest.mark.parametrize(
    ("source", "group", "title"),
    [
        pytest.param("Demoras con {{ group.carrier }}", {"carrier": "oca"}, "Demoras con oca",
                     id="plain"),
        pytest.param("{{ group.carrier | title }}", {"carrier": "correo argentino"},
                     "Correo Argentino", id="title-filter"),
        pytest.param("{{ group.region | upper }}", {"region": "amba"}, "AMBA", id="upper"),
        pytest.param("{% if group.region == 'AMBA' %}AMBA{% else %}interior{% endif %}",
                     {"region": "Salta"}, "interior", id="conditional"),
    ],
)  # fmt: skip
def test_render_with_the_group(source: str, group: dict[str, str], title: str) -> None:
    assert TitleTemplates().render(source, group) == title


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        pytest.param("{{ 1 / 0 }}", "ZeroDivisionError", id="raises"),
        pytest.param("{{ group.carier }}", "undefined variable", id="strict-undefined"),
        pytest.param("{{ 'x' * 2000 }}", "limit on one value", id="value-limit"),
        pytest.param("{% for i in range(900) %}{% for j in range(900) %}.{% endfor %}"
                     "{% endfor %}", "limit", id="step-limit"),
    ],
)  # fmt: skip
def test_render_failures_say_why(source: str, reason: str) -> None:
    titles = TitleTemplates(RenderLimits(max_value=1000))  # the messages' limits, smaller
    with pytest.raises(TitleError, match=reason):
        titles.render(source, {"carrier": "oca"})


RULE = CrisisRule(
    "carrier-breakdown", {}, ("attributes.carrier", "attributes.region"), timedelta(hours=1),
    Thresholds(broken_at_least=5),
    titles={"es": "Demoras con {{ group.carrier | title }}", "en": "Delays {{ 1 / 0 }}",
            "pt-BR": "{% if false %}nunca{% endif %}"},
)  # fmt: skip


def test_a_title_that_fails_falls_back_to_the_rule_and_group_and_says_why() -> None:
    with capture_logs() as logs:
        titles = rendered_titles(RULE, ("andreani", "AMBA"), TitleTemplates())
    assert titles == {
        "es": "Demoras con Andreani",
        "en": "carrier-breakdown: andreani, AMBA",
        "pt-BR": "carrier-breakdown: andreani, AMBA",  # rendered empty: no title at all
    }
    failed = {e["locale"]: e for e in logs if e["event"] == "crisis.title_failed"}
    assert set(failed) == {"en", "pt-BR"}
    assert "ZeroDivisionError: division by zero" in failed["en"]["reason"]
    assert failed["pt-BR"]["reason"] == "ValueError: empty text"
    assert failed["en"]["rule"] == "carrier-breakdown"
    assert failed["en"]["log_level"] == "warning"

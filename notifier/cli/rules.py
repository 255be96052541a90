"""``notifier rules check``: every problem in the rule files and the templates they reach."""

from __future__ import annotations

from pathlib import Path

import typer

from notifier.cli.app import JsonOption, app, emit_json, settings
from notifier.domain.problems import Problem
from notifier.engine.rulefiles.check import (
    MessageCatalog,
    RuleLoad,
    defaults_from_settings,
    load_rules,
)
from notifier.engine.rulefiles.loader import display_path
from notifier.templates import Renderer, RenderLimits

rules_app = typer.Typer(help="Rule files: check them.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(
    rules: Path | None = typer.Option(None, "--rules", help="Rules folder (NOTIFIER_RULES_DIR)."),
    templates: Path | None = typer.Option(
        None, "--templates", help="Templates folder (NOTIFIER_TEMPLATES_DIR)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check every rule file and the templates each rule can reach; exit 1 on any error."""
    s = settings()
    rules_dir = rules or Path(s.rules_dir)
    templates_dir = templates or Path(s.templates_dir)
    extra: list[Problem] = []
    renderer: MessageCatalog | None = None
    if templates_dir.is_dir():
        renderer = Renderer(
            templates_dir,
            default_locale=s.default_locale,
            max_sms_segments=s.max_sms_segments,
            transliterate=s.sms_transliterate,
            limits=RenderLimits.from_settings(s.render),
        )
    else:
        extra.append(Problem(display_path(templates_dir), 1, 1, "templates directory not found"))
    load = load_rules(rules_dir, renderer, defaults_from_settings(s.rules))
    problems = sorted({*load.problems, *extra}, key=lambda p: (p.file, p.line, p.column))
    failed = load.rules is None or any(p.severity == "error" for p in extra)
    if as_json:
        emit_json(_as_json(load, problems, failed))
    else:
        for problem in problems:
            typer.echo(str(problem), err=True)
        if not failed:
            count = len(load.rules.rules) if load.rules else 0
            windows = ""
            if load.maintenance_files:
                windows = (f"; {len(load.maintenance)} planned maintenance in "
                           f"{len(load.maintenance_files)} files")  # fmt: skip
            crisis = len(load.rules.crisis) if load.rules else 0
            watched = f", {crisis} crisis rules" if crisis else ""
            typer.echo(f"ok: {count} rules{watched} in {len(load.files)} files{windows}")
    if failed:
        raise typer.Exit(1)


def _as_json(load: RuleLoad, problems: list[Problem], failed: bool) -> dict[str, object]:
    return {
        "ok": not failed,
        "files": list(load.files),
        "rules": [r.id for r in load.rules.rules] if load.rules else [],
        "maintenance_files": list(load.maintenance_files),
        "maintenance": [m.id for m in load.maintenance],
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "severity": p.severity,
                "message": p.message,
            }
            for p in problems
        ],
    }

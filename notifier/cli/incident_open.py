"""`notifier incident open` and `notifier incident preview`: the same options, and the
preview (also `open --dry-run`) before anyone is told (docs/crisis.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier.cli.app import JsonOption, bad_value, emit_json
from notifier.cli.incidents import (
    ByOption,
    EstimateOption,
    MessageLocales,
    MessageOption,
    by_name,
    incident_app,
    run_on_incidents,
)
from notifier.domain.incidents import UPDATES_ON, Severity
from notifier.domain.preflight import Preview
from notifier.engine.crisis.texts import Texts
from notifier.incident_views import preview_lines, preview_view

TitleLocales = Annotated[
    list[str] | None,
    typer.Option("--title-locale", metavar="LOCALE=TEXT", help="The headline in a locale."),
]
SeverityOption = Annotated[Severity, typer.Option("--severity")]
MatchOption = Annotated[
    list[str] | None,
    typer.Option(
        "--match",
        metavar="FIELD=VALUE",
        help="Which promises: kind=delivery, attributes.carrier=a,b, due_at<TIME. "
        "Several are ANDed.",
    ),
]
QuietOption = Annotated[
    bool | None,
    typer.Option(
        "--through-quiet-hours/--respect-quiet-hours",
        help="Send in the customers' quiet hours (default: only when critical).",
    ),
]
UpdatesOnOption = Annotated[
    str,
    typer.Option(
        "--updates-on",
        metavar="CHANNEL,...",
        help="Channels that get every update; the others get the opening, a new "
        "estimate and the resolution.",
    ),
]


def _opening(
    title: str | None,
    title_locale: list[str] | None,
    message: str | None,
    message_locale: list[str] | None,
    match: list[str] | None,
    updates_on: str,
) -> tuple[Texts, Texts, list[str], list[str]]:
    """Return what `open` and `preview` parse alike; the service checks them (a bad one is
    a usage error naming its option)."""
    if not match:
        bad_value("--match", "give at least one --match: an incident needs a segment")
    channels = [c.strip() for c in updates_on.split(",") if c.strip()]
    titles = Texts(title, title_locale or (), "--title")
    return titles, Texts(message, message_locale or (), "--message"), match, channels


@incident_app.command("open")
def incident_open(
    title: Annotated[str, typer.Option("--title", help="The headline, in the default locale.")],
    title_locale: TitleLocales = None,
    severity: SeverityOption = Severity.MAJOR,
    match: MatchOption = None,
    message: MessageOption = None,
    message_locale: MessageLocales = None,
    estimate: EstimateOption = None,
    by: ByOption = None,
    through_quiet_hours: QuietOption = None,
    updates_on: UpdatesOnOption = ",".join(UPDATES_ON),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the preview instead; open nothing.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Open an incident: every affected customer is told once, at once. Prints its id."""
    if as_json and not dry_run:
        bad_value("--json", "goes with --dry-run: open prints the incident's id alone")
    if dry_run:
        incident_preview(match, title, title_locale, severity, message, message_locale,
                         estimate, by, through_quiet_hours, updates_on, as_json)  # fmt: skip
        return
    titles, messages, found, channels = _opening(title, title_locale, message, message_locale,
                                                 match, updates_on)  # fmt: skip
    opened = run_on_incidents(
        lambda i: i.open(
            titles=titles, messages=messages, severity=severity, match=found, estimate=estimate,
            by=by_name(by), through_quiet_hours=through_quiet_hours, updates_on=channels,
        )
    )  # fmt: skip
    typer.echo(opened)


@incident_app.command("preview")
def incident_preview(
    match: MatchOption = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The headline, as `open` would take it.")
    ] = None,
    title_locale: TitleLocales = None,
    severity: SeverityOption = Severity.MAJOR,
    message: MessageOption = None,
    message_locale: MessageLocales = None,
    estimate: EstimateOption = None,
    by: ByOption = None,
    through_quiet_hours: QuietOption = None,
    updates_on: UpdatesOnOption = ",".join(UPDATES_ON),
    as_json: bool = JsonOption,
) -> None:
    """Before anyone is told: who is affected, on which channel, samples, skips, duration."""
    titles, messages, found, channels = _opening(title, title_locale, message, message_locale,
                                                 match, updates_on)  # fmt: skip
    shown = run_on_incidents(
        lambda i: i.preview(
            titles=titles, messages=messages, severity=severity, match=found, estimate=estimate,
            by=by_name(by), through_quiet_hours=through_quiet_hours, updates_on=channels,
        ),
        preflight=True,
    )  # fmt: skip
    _print_preview(shown, as_json)


def _print_preview(preview: Preview, as_json: bool) -> None:
    view = preview_view(preview)
    if as_json:
        emit_json(view)
        return
    for line in preview_lines(view):
        typer.echo(line)

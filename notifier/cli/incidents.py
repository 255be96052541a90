"""`notifier incident ...`: open, update, pause and resolve a crisis (docs/crisis.md)."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from notifier.cli.app import JsonOption, app, bad_value, emit_json, fail, run_async, settings
from notifier.clock import system_clock
from notifier.domain.errors import NotifierError
from notifier.domain.incidents import UPDATE_STATUSES, UPDATES_ON, IncidentError, Severity
from notifier.domain.limits import MAX_ID
from notifier.engine.crisis.commands import Incidents, Texts
from notifier.incident_views import incident_lines, incident_view
from notifier.store.store import Store
from notifier.templates import Renderer, RenderLimits

incident_app = typer.Typer(
    help="Incidents: tell every affected customer once, keep them informed, close the loop.",
    no_args_is_help=True,
)
app.add_typer(incident_app, name="incident")
T = TypeVar("T")
IdArgument = Annotated[int, typer.Argument(metavar="ID", min=1, max=MAX_ID)]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does it (default: the operating-system user).")
]
MessageOption = Annotated[
    str | None, typer.Option("--message", help="The text, in NOTIFIER_DEFAULT_LOCALE.")
]
MessageLocales = Annotated[
    list[str] | None,
    typer.Option("--message-locale", metavar="LOCALE=TEXT", help="The text in another locale."),
]
EstimateOption = Annotated[
    str | None,
    typer.Option("--estimate", metavar="TIME", help="New estimate: ISO 8601 with offset, now+2h."),
]


def _renderer() -> Renderer | None:
    s = settings()
    folder = Path(s.templates_dir)
    return (
        Renderer(folder, default_locale=s.default_locale, max_sms_segments=s.max_sms_segments,
                 transliterate=s.sms_transliterate, limits=RenderLimits.from_settings(s.render))
        if folder.is_dir()
        else None
    )  # fmt: skip


@asynccontextmanager
async def _incidents(renderer: Renderer | None) -> AsyncIterator[Incidents]:
    s = settings()
    store = Store.open(s.database_url, events=s.events_url is not None)
    try:
        yield Incidents(store, system_clock(s.clock), renderer, s.default_locale,
                        s.max_sms_segments)  # fmt: skip
    finally:
        await store.close()


def _run(work: Callable[[Incidents], Awaitable[T]]) -> T:
    """Run ``work`` on the incidents service; a refused text is a usage error (exit 2)."""

    renderer = _renderer()

    async def go() -> T:
        async with _incidents(renderer) as incidents:
            return await work(incidents)

    try:
        return run_async(go())
    except IncidentError as exc:
        if exc.option is not None:  # the input itself: a usage error naming the option
            bad_value(exc.option, str(exc))
        fail(str(exc))
    except NotifierError as exc:
        fail(str(exc))


def _by(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()[:128]
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return "unknown"


@incident_app.command("open")
def incident_open(
    title: Annotated[str, typer.Option("--title", help="The headline, in the default locale.")],
    title_locale: Annotated[
        list[str] | None,
        typer.Option("--title-locale", metavar="LOCALE=TEXT", help="The headline in a locale."),
    ] = None,
    severity: Annotated[Severity, typer.Option("--severity")] = Severity.MAJOR,
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            metavar="FIELD=VALUE",
            help="Which promises: kind=delivery, attributes.carrier=a,b, due_at<TIME. "
            "Several are ANDed.",
        ),
    ] = None,
    message: MessageOption = None,
    message_locale: MessageLocales = None,
    estimate: EstimateOption = None,
    by: ByOption = None,
    through_quiet_hours: Annotated[
        bool | None,
        typer.Option(
            "--through-quiet-hours/--respect-quiet-hours",
            help="Send in the customers' quiet hours (default: only when critical).",
        ),
    ] = None,
    updates_on: Annotated[
        str,
        typer.Option(
            "--updates-on",
            metavar="CHANNEL,...",
            help="Channels that get every update; the others get the opening, a new "
            "estimate and the resolution.",
        ),
    ] = ",".join(UPDATES_ON),
) -> None:
    """Open an incident: every affected customer is told once, at once. Prints its id."""
    if not match:
        bad_value("--match", "give at least one --match: an incident needs a segment")
    channels = [c.strip() for c in updates_on.split(",") if c.strip()]
    titles = Texts(title, title_locale or (), "--title")
    messages = Texts(message, message_locale or (), "--message")
    found = _run(
        lambda i: i.open(
            titles=titles, messages=messages, severity=severity, match=match, estimate=estimate,
            by=_by(by), through_quiet_hours=through_quiet_hours, updates_on=channels,
        )
    )  # fmt: skip
    typer.echo(found)


@incident_app.command("update")
def incident_update(
    incident_id: IdArgument,
    message: MessageOption = None,
    message_locale: MessageLocales = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"One of {', '.join(UPDATE_STATUSES)}.")
    ] = None,
    estimate: EstimateOption = None,
    by: ByOption = None,
) -> None:
    """Publish an update: customers not told the last one get only this one."""
    messages = Texts(message, message_locale or (), "--message")
    step = _run(
        lambda i: i.update(
            incident_id, messages=messages, status=status, estimate=estimate, by=_by(by)
        )
    )
    typer.echo(f"incident {incident_id}: update {step} published")


@incident_app.command("resolve")
def incident_resolve(
    incident_id: IdArgument,
    message: MessageOption = None,
    message_locale: MessageLocales = None,
    by: ByOption = None,
) -> None:
    """Resolve: everyone who was told gets the resolution; the rules take over again."""
    messages = Texts(message, message_locale or (), "--message")
    _run(lambda i: i.resolve(incident_id, messages=messages, by=_by(by)))
    typer.echo(f"incident {incident_id}: resolved")


def _simple(name: str, verb: str, done: str) -> None:
    def command(incident_id: IdArgument, by: ByOption = None) -> None:
        _run(lambda i: getattr(i, verb)(incident_id, _by(by)))
        typer.echo(f"incident {incident_id}: {done}")

    command.__doc__ = {
        "confirm": "Confirm a proposed incident: its customers are told now.",
        "dismiss": "Dismiss a proposed incident: nobody is told; it is recorded.",
        "pause": "Stop the fan-out at once (the kill switch): what is pending waits.",
        "resume": "Continue a paused fan-out.",
    }[name]
    incident_app.command(name)(command)


for _name, _done in (("confirm", "confirmed"), ("dismiss", "dismissed"), ("pause", "paused"),
                     ("resume", "resumed")):  # fmt: skip
    _simple(_name, _name, _done)


@incident_app.command("list")
def incident_list(as_json: bool = JsonOption) -> None:
    """List incidents: those waiting for confirmation first, then the newest."""
    shown = _run(lambda i: i.list())
    views: list[dict[str, Any]] = [incident_view(s.incident, s.counts) for s in shown]
    if as_json:
        emit_json(views)
        return
    if not views:
        typer.echo("no incidents")
    for v in views:
        c = v["counts"]
        flag = " (detected, waiting for confirmation)" if v["awaiting_confirmation"] else ""
        typer.echo(f"{v['id']}  {v['status']:<13} {v['severity']:<8} {v['title']}{flag}")
        typer.echo(
            f"    {v['segment_text']}; affected {c['affected']}, told {c['told']}, "
            f"pending {c['pending']}, failed {c['failed']}, skipped {c['skipped']}"
        )


@incident_app.command("show")
def incident_show(incident_id: IdArgument, as_json: bool = JsonOption) -> None:
    """Show an incident: affected, told, pending, deferred, failed, skipped; its history."""
    shown = _run(lambda i: i.show(incident_id))
    view = incident_view(shown.incident, shown.counts, shown.history, shown.detections)
    if as_json:
        emit_json(view)
        return
    for line in incident_lines(view):
        typer.echo(line)

"""`notifier incident ...`: preview, open, update, pause and resolve a crisis, and watch its
fan-out (docs/crisis.md)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from notifier.channels.registry import build_channels
from notifier.cli.app import JsonOption, app, bad_value, emit_json, fail, run_async, settings
from notifier.cli.incident_watch import watch
from notifier.clock import system_clock
from notifier.config import Settings
from notifier.domain.errors import NotifierError
from notifier.domain.incidents import UPDATE_STATUSES, IncidentError
from notifier.domain.limits import MAX_ID
from notifier.engine.crisis.commands import Incidents
from notifier.engine.crisis.preflight import Reachability, channel_rates
from notifier.engine.crisis.texts import Texts
from notifier.engine.rulefiles.check import defaults_from_settings
from notifier.incident_views import incident_lines, incident_view
from notifier.store.store import Store
from notifier.templates import Company, Renderer, RenderLimits

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


def _reachability(s: Settings) -> Reachability:
    """What the daemon would send a fan-out with, from the same settings it reads."""
    return Reachability(
        available=build_channels(s.providers, demo=s.demo).available(),
        rates=channel_rates(s.rates), company=Company.from_settings(s.messages),
        content_sids=dict(s.twilio.whatsapp_content_sids),
        quiet=defaults_from_settings(s.rules).quiet_hours, currency=s.default_currency,
    )  # fmt: skip


@asynccontextmanager
async def _incidents(renderer: Renderer | None, preflight: bool) -> AsyncIterator[Incidents]:
    s = settings()
    reach = _reachability(s) if preflight else None
    store = Store.open(s.database_url, events=s.events_url is not None)
    try:
        yield Incidents(store, system_clock(s.clock), renderer, s.default_locale,
                        s.max_sms_segments, reach)  # fmt: skip
    finally:
        await store.close()


def run_on_incidents(work: Callable[[Incidents], Awaitable[T]], *, preflight: bool = False) -> T:
    """Run ``work`` on the incidents service; a refused text is a usage error (exit 2).

    ``preflight`` hands the service what a preview routes with (channels, rates).
    """

    renderer = _renderer()

    async def go() -> T:
        async with _incidents(renderer, preflight) as incidents:
            return await work(incidents)

    try:
        return run_async(go())
    except IncidentError as exc:
        if exc.option is not None:  # the input itself: a usage error naming the option
            bad_value(exc.option, str(exc))
        fail(str(exc))
    except NotifierError as exc:
        fail(str(exc))


def by_name(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()[:128]
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return "unknown"


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
    step = run_on_incidents(
        lambda i: i.update(
            incident_id, messages=messages, status=status, estimate=estimate, by=by_name(by)
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
    run_on_incidents(lambda i: i.resolve(incident_id, messages=messages, by=by_name(by)))
    typer.echo(f"incident {incident_id}: resolved")


def _simple(name: str, verb: str, done: str) -> None:
    def command(incident_id: IdArgument, by: ByOption = None) -> None:
        run_on_incidents(lambda i: getattr(i, verb)(incident_id, by_name(by)))
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
    shown = run_on_incidents(lambda i: i.list())
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
def incident_show(
    incident_id: IdArgument,
    as_json: bool = JsonOption,
    watch_it: Annotated[
        bool, typer.Option("--watch", help="Redraw the counts every second until settled.")
    ] = False,
    every: Annotated[float, typer.Option("--every", hidden=True, min=0.01, max=60)] = 1.0,
) -> None:
    """Show an incident: affected, told, pending, deferred, failed, skipped; its history."""
    if watch_it:
        if as_json:
            bad_value("--watch", "--watch redraws for people; --json prints once: use one")
        out, pause = sys.stdout, timedelta(seconds=every)
        try:
            run_on_incidents(lambda i: watch(i, incident_id, out, tty=out.isatty(), every=pause))
        except KeyboardInterrupt:  # Ctrl-C ends the watch, not the fan-out
            typer.echo("")
        return
    shown = run_on_incidents(lambda i: i.show(incident_id))
    view = incident_view(shown.incident, shown.counts, shown.history, shown.detections)
    if as_json:
        emit_json(view)
        return
    for line in incident_lines(view):
        typer.echo(line)

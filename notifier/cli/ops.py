"""Ops commands: why a notification went (or not), the kill switch, status and the dry run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from notifier.channels.registry import build_channels
from notifier.cli.app import JsonOption, app, bad_value, emit_json, fail, run_async, settings
from notifier.cli.status_report import health_view, status_lines, status_view, when
from notifier.clock import system_clock
from notifier.domain.durations import DurationError, parse_instant
from notifier.domain.forecast import Forecast
from notifier.domain.limits import MAX_ID
from notifier.domain.models import CHANNELS, NotificationStatus
from notifier.domain.reports import Pause, StatusReport
from notifier.domain.rules.spelling import did_you_mean, one_of
from notifier.domain.verdict import judge
from notifier.engine.planning.simulate import forecast
from notifier.engine.reporting.service import Reporting, Resumed
from notifier.engine.rulefiles.check import defaults_from_settings, load_rules
from notifier.store.store import Store
from notifier.templates import Renderer
from notifier.views import forecast_view, notification_line_view, notification_view

notification_app = typer.Typer(help="Notifications: why each went out, or did not.",
                               no_args_is_help=True)  # fmt: skip
app.add_typer(notification_app, name="notification")
events_app = typer.Typer(help="Outbound events for the CRM (NOTIFIER_EVENTS_URL).",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(events_app, name="events")
OPS_PAUSE = "paused by ops"


@asynccontextmanager
async def _store() -> AsyncIterator[Store]:
    """Yield the configured store, closed afterwards."""
    s = settings()
    store = Store.open(s.database_url, events=s.events_url is not None)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _reporting() -> AsyncIterator[Reporting]:
    """Yield the reporting service over the configured store, on the daemon's clock."""
    async with _store() as store:
        yield Reporting(store, system_clock(settings().clock))


@notification_app.command("show")
def notification_show(
    notification_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=MAX_ID)],
    as_json: bool = JsonOption,
) -> None:
    """Show a notification and its history: the rule, routing, attempts, and every reason."""

    async def go() -> dict[str, Any]:
        async with _reporting() as reporting:
            return notification_view(await reporting.notification(notification_id))

    view = run_async(go())
    if as_json:
        emit_json(view)
        return
    typer.echo(f"notification {view['id']}: {view['status']}")
    typer.echo(f"  customer {view['customer_id'] or '-'}, promise {view['promise_id'] or '-'}, "
               f"rule {view['rule_id'] or '-'} ({view['stage']}, step {view['step']})")  # fmt: skip
    typer.echo(f"  message {view['message']} for {view['audience']}, priority {view['priority']}")
    chain = ", ".join([view["channel_choice"], *view["fallback"]])
    typer.echo(f"  channels: {chain}; sent on {view['channel'] or '-'} to {view['address'] or '-'}")
    typer.echo(f"  due {view['not_before']}, attempts {view['attempts']}, sent "
               f"{view['sent_at'] or '-'}, delivered {view['delivered_at'] or '-'}")  # fmt: skip
    if view["error"]:
        typer.echo(f"  last error: {view['error']}")
    if view["folded_into"]:
        typer.echo(f"  went out inside notification {view['folded_into']}")
    if view["members"]:
        typer.echo(f"  carried notifications {', '.join(map(str, view['members']))}")
    if view["purged_at"]:
        typer.echo(f"  emptied {view['purged_at']} under NOTIFIER_RETENTION: its text, address "
                   "and history are gone; the row stays so it is never sent again")  # fmt: skip
    typer.echo("history:")
    for e in view["history"]:
        detail = " ".join(f"{k}={v}" for k, v in e["detail"].items() if v not in (None, [], {}))
        line = f"  {e['at']}  {e['type']:<14} {e['channel'] or '':<8} {e['reason'] or ''}"
        typer.echo(f"{line}  [{detail}]" if detail else line.rstrip())


@notification_app.command("list")
def notification_list(
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID")] = None,
    status: Annotated[NotificationStatus | None, typer.Option("--status", metavar="S")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size")] = 50,
    before: Annotated[
        int | None, typer.Option("--before", metavar="ID", min=0, max=MAX_ID, help="Next page")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """List notifications, newest first, 50 a page (--before the last id for the next)."""

    async def go() -> list[dict[str, Any]]:
        async with _reporting() as reporting:
            found = await reporting.notifications(
                customer_id=customer, status=status, limit=limit, before_id=before
            )
            return [notification_line_view(r) for r in found]

    rows = run_async(go())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no notifications")
    for r in rows:
        typer.echo(f"{r['id']:>7}  {r['customer_id'] or 'ops':<16} {r['status']:<11} "
                   f"{r['channel'] or '-':<8} {r['message']:<20} {r['rule_id'] or '-':<20} "
                   f"{r['sent_at'] or r['not_before']}")  # fmt: skip
    if len(rows) == limit:
        typer.echo(f"more: --before {rows[-1]['id']}", err=True)


def _check_channels(option: str, names: list[str]) -> None:
    for name in names:
        if name not in CHANNELS:
            bad_value(option, f"unknown channel {name!r}{did_you_mean(name, CHANNELS)}; "
                              f"one of {one_of(CHANNELS)}")  # fmt: skip


def _check_rules(names: list[str]) -> None:
    """Refuse a mistyped rule id: a pause that matches nothing would hold nothing."""
    s = settings()
    load = load_rules(Path(s.rules_dir), None, defaults_from_settings(s.rules))
    if load.rules is None:
        return  # the files are broken: the daemon runs the last good set, unknown here
    known = [r.id for r in load.rules.rules]
    for name in names:
        if name not in known:
            bad_value("--rule", f"no rule {name!r} in {s.rules_dir}{did_you_mean(name, known)}")


def _print_pauses(rows: Sequence[Pause], as_json: bool) -> None:
    shown = [{"kind": r.kind, "target": r.target, "reason": r.reason,
              "since": r.created_at, "until": r.until} for r in rows]  # fmt: skip
    if as_json:
        emit_json({"paused": shown})
        return
    if not shown:
        typer.echo("nothing is paused")
    for p in shown:
        what = "down" if p["kind"] == "down" else "paused"
        kind = "channel" if p["kind"] == "down" else p["kind"]
        until = f" until {when(p['until'])}" if p["until"] else ""
        typer.echo(f"{what}: {kind} {p['target']} since {when(p['since'])}{until}: {p['reason']}")


@app.command("pause")
def pause(
    channel: Annotated[list[str] | None, typer.Option("--channel", metavar="C")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", metavar="ID")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record")] = OPS_PAUSE,
    as_json: bool = JsonOption,
) -> None:
    """Hold every notification on a channel or from a rule; they wait, nothing is dropped."""
    if not channel and not rule:
        bad_value("--channel", "give --channel C or --rule ID (or both)")
    _check_channels("--channel", channel or [])
    _check_rules(rule or [])

    async def go() -> list[Pause]:
        async with _reporting() as reporting:
            return await reporting.pause(channel or [], rule or [], reason)

    _print_pauses(run_async(go()), as_json)


@app.command("resume")
def resume(
    channel: Annotated[list[str] | None, typer.Option("--channel", metavar="C")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", metavar="ID")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Lift every ops pause")] = False,
    as_json: bool = JsonOption,
) -> None:
    """Lift pauses; what they held goes out at once (a channel found down is not an ops pause)."""
    if not channel and not rule and not everything:
        bad_value("--channel", "give --channel C, --rule ID or --all")
    _check_channels("--channel", channel or [])
    targets: list[tuple[str, str | None]] = [("channel", c) for c in channel or []]
    targets += [("rule", r) for r in rule or []]
    if everything:
        targets = [("channel", None), ("rule", None)]

    async def go() -> Resumed:
        async with _reporting() as reporting:
            return await reporting.resume(targets)

    resumed = run_async(go())
    for kind, target in resumed.not_paused:
        typer.echo(f"notifier: {kind} {target} was not paused", err=True)
    _print_pauses(resumed.pauses, as_json)


@events_app.command("requeue")
def events_requeue() -> None:
    """Post again the events the receiver refused (parked), once it takes them."""

    async def go() -> int:
        async with _reporting() as reporting:
            return await reporting.requeue_events()

    typer.echo(f"requeued {run_async(go())} parked event(s)")


@app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """Is it working? Exits 0 if so, 3 when the daemon looks stale, 4 when work is stuck.

    The queue and the rows in sending, the last scan against its interval, the scan's and
    the dispatcher's errors, the rules, pauses and the last failed attempts.
    """

    async def go() -> StatusReport:
        async with _reporting() as reporting:
            return await reporting.status()

    found = run_async(go())
    verdict = judge(found, settings().scan_interval)
    if as_json:
        emit_json({**status_view(found), "health": health_view(verdict)})
    else:
        for line in status_lines(found, verdict):
            typer.echo(line)
    if verdict.exit_code:
        raise typer.Exit(verdict.exit_code)


@app.command("simulate")
def simulate(
    at: Annotated[str, typer.Option("--at", metavar="TIME", help="now+3d or ISO 8601")],
    as_json: bool = JsonOption,
) -> None:
    """List what would be sent from now until TIME, in order, and why; sends nothing."""
    s = settings()
    now = system_clock(s.clock).now()
    try:
        end = parse_instant(at, now)
    except DurationError as exc:
        bad_value("--at", str(exc))
    if end <= now:
        bad_value("--at", f"{at!r} is not in the future")
    renderer = Renderer.from_settings(s.render)
    load = load_rules(Path(s.rules_dir), renderer, defaults_from_settings(s.rules))
    if load.rules is None:
        errors = [str(p) for p in load.problems if p.severity == "error"]
        fail(f"the rules do not load ({len(errors)} problems; see 'notifier rules check'): "
             f"{errors[0] if errors else s.rules_dir}")  # fmt: skip
    rules = load.rules
    channels = build_channels(s.providers, demo=s.demo)

    async def go() -> Forecast:
        try:
            async with _store() as store:
                return await forecast(
                    store, rules, s.dispatch, s.scan, channels.available(), now, end
                )
        finally:
            await channels.aclose()

    found = run_async(go())
    if as_json:
        emit_json({"from": now, "until": end, **forecast_view(found)})
        return
    for p in found.sends:
        folded = f" (+{len(p.members)} folded in)" if p.members else ""
        who = "ops" if p.audience == "ops" else f"customer {p.customer_id}"
        typer.echo(f"{when(p.at)}  {who:<24} {p.channel:<8} {p.message:<20} "
                   f"rule {p.rule_id or '-'}, promise {p.promise_id or '-'}{folded}")  # fmt: skip
        typer.echo(f"    why: {'; '.join(p.reasons)}")
    for w in found.withheld:
        whom = w.customer_id or "-"
        typer.echo(f"{when(w.at)}  customer {whom:<15} not sent ({w.outcome}): rule "
                   f"{w.rule_id or '-'}, promise {w.promise_id or '-'}: {w.reason}")  # fmt: skip
    people = len({p.customer_id for p in found.sends if p.audience == "customer"})
    typer.echo(f"{len(found.sends)} messages to {people} customer(s), {len(found.withheld)} "
               f"not sent, from {when(now)} until {when(end)}; nothing was sent")  # fmt: skip

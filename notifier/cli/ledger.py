"""``notifier customer|interaction|promise ...``: the ledger from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from notifier.cli.app import (
    JsonOption,
    app,
    bad_value,
    emit_json,
    open_ledger,
    run_async,
    settings,
    validated,
)
from notifier.clock import system_clock
from notifier.domain.durations import DurationError, parse_instant
from notifier.domain.limits import MAX_ID, WINDOW
from notifier.domain.models import CHANNELS, Customer, Promise, PromiseStatus, Source
from notifier.engine.ingest.ledger_service import new_external_ref
from notifier.schemas import (
    CustomerIn,
    InteractionIn,
    OpaqueId,
    PromiseIn,
    RescheduleIn,
)
from notifier.views import customer_view, forget_view, promise_view, timeline_view

customer_app = typer.Typer(
    help="Customers: add, show, timeline, revoke-links, forget.", no_args_is_help=True
)
interaction_app = typer.Typer(help="Touchpoints with customers.", no_args_is_help=True)
promise_app = typer.Typer(
    help="Promises: add, keep, cancel, reschedule, list.", no_args_is_help=True
)
app.add_typer(customer_app, name="customer")
app.add_typer(interaction_app, name="interaction")
app.add_typer(promise_app, name="promise")

CUSTOMER_OPTIONS = {
    "name": "--name", "phone": "--phone", "email": "--email", "whatsapp": "--whatsapp",
    "x_user_id": "--x-user-id", "locale": "--locale", "timezone": "--timezone",
    "country": "--country", "preferred_channel": "--preferred-channel", "consent": "--no-consent",
}  # fmt: skip
PROMISE_OPTIONS = {
    "customer_id": "CUSTOMER_ID", "kind": "--kind", "due_at": "--due",
    "window_start": "--window-start", "external_ref": "--ref", "attributes": "--attr",
}  # fmt: skip


PromiseIdArgument = Annotated[int, typer.Argument(metavar="ID", min=1, max=MAX_ID)]


def _time(option: str, text: str) -> datetime:
    # The window itself is checked by the schema, as for the API; this only catches a
    # time too far out for Python's datetime to hold at all (now+99999999999d, year 9999-03:00).
    try:
        return parse_instant(text, system_clock(settings().clock).now())
    except DurationError as exc:
        bad_value(option, str(exc))
    except OverflowError:
        bad_value(option, f"{text!r} is outside the times the ledger keeps ({WINDOW})")


# A new customer's id, checked as the API checks its path: the id pattern, and no email.
_NEW_CUSTOMER_ID: TypeAdapter[str] = TypeAdapter(OpaqueId)


def _customer_id(value: str) -> str:
    try:
        return _NEW_CUSTOMER_ID.validate_python(value)
    except ValidationError as exc:
        bad_value("ID", str(exc.errors()[0]["msg"]).removeprefix("Value error, "))


def _show(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


@customer_app.command("add")
def customer_add(
    customer_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Option("--name", help="Full name")],
    phone: Annotated[str | None, typer.Option(help="E.164, e.g. +5491155551234")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    whatsapp: Annotated[str | None, typer.Option(help="E.164")] = None,
    x_user_id: Annotated[str | None, typer.Option("--x-user-id")] = None,
    locale: Annotated[str | None, typer.Option(help="es, es-AR, en, pt-BR ...")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA, e.g. America/Bogota")] = None,
    country: Annotated[
        str | None, typer.Option(help="ISO 3166 alpha-2, e.g. AR; default: the phone's")
    ] = None,
    preferred_channel: Annotated[str | None, typer.Option("--preferred-channel")] = None,
    no_consent: Annotated[
        list[str] | None, typer.Option("--no-consent", metavar="CHANNEL", help="Opt out")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create a customer, or update the fields given for an existing one."""
    data: dict[str, object] = {"name": name}
    given = {
        "phone": phone, "email": email, "whatsapp": whatsapp, "x_user_id": x_user_id,
        "locale": locale, "timezone": timezone, "country": country,
        "preferred_channel": preferred_channel,
    }  # fmt: skip
    data.update({k: v for k, v in given.items() if v is not None})
    for channel in no_consent or []:
        if channel not in CHANNELS:
            bad_value("--no-consent", f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    if no_consent:
        data["consent"] = dict.fromkeys(no_consent, False)
    body = validated(CustomerIn, data, CUSTOMER_OPTIONS)
    customer_id = _customer_id(customer_id)

    async def go() -> tuple[Customer, bool]:
        async with open_ledger() as ledger:
            return await ledger.put_customer(body.to_data(customer_id))

    customer, created = run_async(go())
    if as_json:
        emit_json({**customer_view(customer), "created": created})
    else:
        typer.echo(f"{'created' if created else 'updated'} customer {customer.id}")


def _country(c: Customer) -> str:
    if c.home_country is None:
        return "-"
    return c.home_country if c.country is not None else f"{c.home_country} (from the phone)"


@customer_app.command("show")
def customer_show(
    customer_id: Annotated[str, typer.Argument(metavar="ID")], as_json: bool = JsonOption
) -> None:
    """Show a customer, with the last used channel."""

    async def go() -> Customer:
        async with open_ledger() as ledger:
            return await ledger.customer(customer_id)

    c = run_async(go())
    if as_json:
        emit_json(customer_view(c))
        return
    opted_out = ", ".join(sorted(c.opted_out)) or "none"
    typer.echo(f"customer {c.id}: {c.name or '(forgotten)' if c.forgotten else c.name or '-'}")
    typer.echo(f"  locale {c.locale}, timezone {c.timezone}, country {_country(c)}")
    for label, value in [
        ("phone", c.phone), ("email", c.email), ("whatsapp", c.whatsapp), ("x user id", c.x_user_id)
    ]:  # fmt: skip
        typer.echo(f"  {label}: {value or '-'}")
    typer.echo(f"  preferred channel: {c.preferred_channel or '-'}")
    typer.echo(f"  last used channel: {c.last_used_channel or '-'}")
    typer.echo(f"  opted out of: {opted_out}")
    for channel, address in c.undeliverable.items():
        typer.echo(f"  undeliverable on {channel}: {address}")


@customer_app.command("timeline")
def customer_timeline(
    customer_id: Annotated[str, typer.Argument(metavar="ID")], as_json: bool = JsonOption
) -> None:
    """Promises, interactions and notifications, newest first."""

    async def go() -> list[dict[str, Any]]:
        async with open_ledger() as ledger:
            return timeline_view(await ledger.timeline(customer_id))

    entries = run_async(go())
    if as_json:
        emit_json(entries)
        return
    if not entries:
        typer.echo(f"nothing yet for customer {customer_id}")
    for e in entries:
        typer.echo(f"{e['at']}  {e['type']:<24} {e['summary']}")


@customer_app.command("revoke-links")
def customer_revoke_links(
    customer_id: Annotated[str, typer.Argument(metavar="ID")], as_json: bool = JsonOption
) -> None:
    """Make the unsubscribe links sent to a customer so far stop working (410)."""

    async def go() -> datetime:
        async with open_ledger() as ledger:
            return await ledger.revoke_links(customer_id)

    at = run_async(go())
    if as_json:
        emit_json({"customer_id": customer_id, "links_revoked_at": at})
    else:
        typer.echo(f"revoked the unsubscribe links sent to customer {customer_id} until {at}")


@customer_app.command("forget")
def customer_forget(
    customer_id: Annotated[str, typer.Argument(metavar="ID")], as_json: bool = JsonOption
) -> None:
    """Erase the customer's names, addresses and message bodies (LGPD, Ley 25.326)."""

    async def go() -> dict[str, Any]:
        async with open_ledger() as ledger:
            return forget_view(await ledger.forget(customer_id))

    report = run_async(go())
    if as_json:
        emit_json(report)
    else:
        typer.echo(
            f"forgot customer {customer_id}: erased personal data from "
            f"{report['promises']} promises, {report['interactions']} interactions and "
            f"{report['notifications']} notifications; counts and dedupe keys kept"
        )


@interaction_app.command("add")
def interaction_add(
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER_ID")],
    channel: Annotated[str, typer.Option(help="sms|whatsapp|email|x")],
    direction: Annotated[str, typer.Option(help="inbound|outbound")],
    at: Annotated[str | None, typer.Option("--at", metavar="TIME")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Record a touchpoint; an inbound one sets the customer's last used channel."""
    data: dict[str, object] = {
        "customer_id": customer_id, "channel": channel, "direction": direction,
    }  # fmt: skip
    if at is not None:
        data["at"] = _time("--at", at)
    body = validated(
        InteractionIn, data, {"channel": "--channel", "direction": "--direction", "at": "--at"}
    )

    async def go() -> int:
        async with open_ledger() as ledger:
            return await ledger.add_interaction(body.to_data(ledger.clock.now()))

    new_id = run_async(go())
    if as_json:
        emit_json({"id": new_id, **body.model_dump(mode="json")})
    else:
        typer.echo(f"recorded interaction {new_id}")


def _attributes(pairs: list[str]) -> dict[str, object]:
    attributes: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            bad_value("--attr", f"{pair!r} is not key=value")
        attributes[key.strip()] = value
    return attributes


@promise_app.command("add")
def promise_add(
    customer_id: Annotated[str, typer.Argument(metavar="CUSTOMER_ID")],
    kind: Annotated[str, typer.Option(help="delivery, refund, callback, appointment ...")],
    due: Annotated[str, typer.Option("--due", metavar="TIME", help="ISO 8601 or now+2h")],
    window_start: Annotated[str | None, typer.Option("--window-start", metavar="TIME")] = None,
    ref: Annotated[str | None, typer.Option("--ref", metavar="EXTERNAL_REF")] = None,
    attr: Annotated[list[str] | None, typer.Option("--attr", metavar="KEY=VALUE")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create or update a promise (idempotent on --ref); prints the promise id."""
    data: dict[str, object] = {
        "customer_id": customer_id, "kind": kind, "due_at": _time("--due", due),
        "attributes": _attributes(attr or []),
    }  # fmt: skip
    if window_start is not None:
        data["window_start"] = _time("--window-start", window_start)
    if ref is not None:
        data["external_ref"] = ref
    body = validated(PromiseIn, data, PROMISE_OPTIONS)

    async def go() -> tuple[Promise, bool]:
        async with open_ledger() as ledger:
            return await ledger.put_promise(body.to_data(new_external_ref()), Source.CLI)

    promise, created = run_async(go())
    if as_json:
        emit_json({**promise_view(promise), "created": created})
    else:
        typer.echo(promise.id)


def _settle(promise_id: int, action: str, as_json: bool) -> None:
    async def go() -> Promise:
        async with open_ledger() as ledger:
            if action == "keep":
                return await ledger.keep(promise_id, Source.CLI)
            return await ledger.cancel(promise_id, Source.CLI)

    promise = run_async(go())
    if as_json:
        emit_json(promise_view(promise))
    else:
        typer.echo(f"promise {promise.id} is {promise.status.value}")


@promise_app.command("keep")
def promise_keep(promise_id: PromiseIdArgument, as_json: bool = JsonOption) -> None:
    """Mark a promise kept."""
    _settle(promise_id, "keep", as_json)


@promise_app.command("cancel")
def promise_cancel(promise_id: PromiseIdArgument, as_json: bool = JsonOption) -> None:
    """Mark a promise cancelled."""
    _settle(promise_id, "cancel", as_json)


@promise_app.command("reschedule")
def promise_reschedule(
    promise_id: PromiseIdArgument,
    due: Annotated[str, typer.Option("--due", metavar="TIME")],
    window_start: Annotated[str | None, typer.Option("--window-start", metavar="TIME")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Move a promise's deadline (recorded as rescheduled; counts as broken)."""
    data: dict[str, object] = {"due_at": _time("--due", due)}
    if window_start is not None:
        data["window_start"] = _time("--window-start", window_start)
    body = validated(RescheduleIn, data, {"due_at": "--due", "window_start": "--window-start"})

    async def go() -> Promise:
        async with open_ledger() as ledger:
            return await ledger.reschedule(promise_id, body.due_at, body.window_start, Source.CLI)

    promise = run_async(go())
    if as_json:
        emit_json(promise_view(promise))
    else:
        typer.echo(f"promise {promise.id} now due {promise.due_at.isoformat()}")


@promise_app.command("list")
def promise_list(
    customer: Annotated[str | None, typer.Option("--customer", metavar="ID")] = None,
    status: Annotated[PromiseStatus | None, typer.Option("--status", metavar="S")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 1000,
    as_json: bool = JsonOption,
) -> None:
    """List promises, oldest first."""

    async def go() -> list[Promise]:
        async with open_ledger() as ledger:
            return await ledger.list_promises(customer_id=customer, status=status, limit=limit)

    found = run_async(go())
    if as_json:
        emit_json([promise_view(p) for p in found])
        return
    if not found:
        typer.echo("no promises")
    for p in found:
        window = (
            f"{_show(p.window_start)}..{_show(p.due_at)}" if p.window_start else _show(p.due_at)
        )
        row = f"{p.id:>6}  {p.customer_id:<16} {p.kind:<12} {p.status.value:<9} {window}"
        typer.echo(f"{row}  {p.external_ref}")

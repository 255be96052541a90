"""The Typer application and what every command shares: output, errors, async."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from notifier import __version__
from notifier.clock import system_clock
from notifier.config import Settings, load_settings
from notifier.engine.ingest.ledger_service import Ledger, LedgerDefaults
from notifier.store.store import Store

app = typer.Typer(
    name="notifier",
    help="Keeps the ledger of promises to customers and tells them first when one slips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"notifier {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    # Eager, and before any settings are read: `--version` answers whatever the environment.
    pass


T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop."""
    return asyncio.run(coro)


def settings() -> Settings:
    """Return the settings for this command run."""
    return load_settings()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    typer.echo(f"notifier: error: {message}", err=True)
    raise typer.Exit(code)


def emit_json(value: object) -> None:
    """Print ``value`` as JSON on stdout (datetimes as ISO 8601)."""
    json.dump(value, sys.stdout, default=_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _default(value: object) -> object:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


@asynccontextmanager
async def open_ledger() -> AsyncIterator[Ledger]:
    """Yield the ledger over the configured store, closed afterwards."""
    s = settings()
    store = Store.open(s.database_url, events=s.events_url is not None)
    try:
        yield Ledger(
            store,
            system_clock(s.clock),
            LedgerDefaults(locale=s.default_locale, timezone=s.default_timezone),
        )
    finally:
        await store.close()


def bad_value(option: str, message: str) -> NoReturn:
    """Refuse an option's value: a usage error, exit 2."""
    raise typer.BadParameter(message, param_hint=f"'{option}'")


def validated(model: type[M], data: dict[str, object], options: dict[str, str]) -> M:
    """Validate ``data`` with the API schema; a bad value is a usage error naming the option."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        bad_value(options.get(field, field), message)

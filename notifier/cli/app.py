"""The Typer application and what every command shares: output, errors, async."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from notifier.config import Settings, load_settings

app = typer.Typer(
    name="notifier",
    help="Keeps the ledger of promises to customers and tells them first when one slips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

T = TypeVar("T")

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

"""``notifier db upgrade``: migrate the configured database to the newest schema."""

from __future__ import annotations

import typer

from notifier.cli.app import JsonOption, app, emit_json, settings
from notifier.store.connect import redact_url
from notifier.store.migrate import upgrade

db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Option("head", help="Target revision (default: the newest)."),
    as_json: bool = JsonOption,
) -> None:
    """Migrate NOTIFIER_DATABASE_URL to the newest schema (safe to run again)."""
    url = settings().database_url
    upgrade(url, revision)
    if as_json:
        emit_json({"database": redact_url(url), "revision": revision})
    else:
        typer.echo(f"database {redact_url(url)} is at {revision}")

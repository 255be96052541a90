"""``notifier run`` and ``notifier demo``: the daemon, for real or on demo data."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import SecretStr

from notifier.api.server import ApiServer
from notifier.channels.unsubscribe import sends_customer_email
from notifier.cli.app import app, fail, settings
from notifier.cli.startup_checks import require_links
from notifier.clock import system_clock
from notifier.config import Settings
from notifier.engine.ingest.demo import load_demo
from notifier.engine.ingest.demo_key import demo_secret
from notifier.engine.ingest.ledger_service import Ledger, LedgerDefaults
from notifier.engine.wiring.daemon import Daemon
from notifier.engine.wiring.services import Services
from notifier.observability import Metrics, configure_logging
from notifier.process import tune_gc
from notifier.store.connect import database_file, redact_url
from notifier.store.migrate import is_current, upgrade
from notifier.store.single_writer import DaemonLock
from notifier.store.store import Store

DEMO_TOKEN = "demo-token"


@app.command("run")
def run(
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the HTTP API.")] = False,
) -> None:
    """Run the daemon: scan, dispatch, housekeeping and the API, until SIGTERM."""
    s = settings()
    if sends_customer_email(s.email):
        require_links(s)
    configure_logging(s.log_level, s.log_format)
    tune_gc()
    if s.demo:
        # README asks for NOTIFIER_DEMO=1 in a second terminal; if it leaks into a real
        # daemon, it must not fill that database with demo customers and message them.
        typer.echo(
            "notifier: warning: NOTIFIER_DEMO is set: channels without credentials print "
            "instead of sending; demo data is loaded only by 'notifier demo'",
            err=True,
        )
    asyncio.run(_serve(s, api=not no_api, demo_data=False))


@app.command("demo")
def demo(
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the HTTP API.")] = False,
) -> None:
    """Migrate the SQLite database, load the demo ledger, and run the daemon in demo mode."""
    base = settings()
    s = base.model_copy(
        update={
            "demo": True,
            "api_token": base.api_token or SecretStr(DEMO_TOKEN),
            # Demo emails carry working unsubscribe links, as real ones must.
            "secret_key": base.secret_key or demo_secret(database_file(base.database_url)),
            "public_url": base.public_url or f"http://{base.http_host}:{base.http_port}",
        }
    )
    configure_logging(s.log_level, s.log_format)
    tune_gc()
    asyncio.run(_serve(s, api=not no_api, demo_data=True))


async def _serve(s: Settings, *, api: bool, demo_data: bool) -> None:
    """Serve until stopped; ``demo_data`` (``notifier demo`` only) migrates and loads the demo."""
    # A second daemon on this SQLite file must refuse before migrating, loading the demo
    # or announcing anything: its one line of output is the refusal.
    lock = DaemonLock.for_url(s.database_url)
    lock.acquire()
    try:
        await _serve_locked(s, lock, api=api, demo_data=demo_data)
    finally:
        lock.release()


async def _serve_locked(s: Settings, lock: DaemonLock, *, api: bool, demo_data: bool) -> None:
    if demo_data:
        await asyncio.to_thread(upgrade, s.database_url)
    store = Store.open(s.database_url, events=s.events_url is not None)
    try:
        if not await is_current(store.engine):
            fail(
                f"the database {redact_url(s.database_url)} is not at the newest schema: "
                "run 'notifier db upgrade'"
            )
        if demo_data:
            ledger = Ledger(
                store,
                system_clock(s.clock),
                LedgerDefaults(s.default_locale, s.default_timezone),
            )
            customers, promises = await load_demo(ledger)
            _banner(s, api, customers, promises)
        if api and s.api_token is None:
            typer.echo(
                "notifier: warning: NOTIFIER_API_TOKEN is not set: /v1 answers 503 until it is",
                err=True,
            )
        daemon = Daemon(s, store, server=_listening if api else None, lock=lock, force_exit=True)
        await daemon.run()
    finally:
        await store.close()


def _listening(services: Services, metrics: Metrics) -> ApiServer:
    """Return the API server once it holds its port, and say where."""
    server = ApiServer(services, metrics)
    s = services.settings
    typer.echo(f"notifier: listening on http://{s.http_host}:{server.port}", err=True)
    return server


def _banner(s: Settings, api: bool, customers: int, promises: int) -> None:
    loaded = (
        f"loaded {customers} customers and {promises} promises"
        if customers or promises
        else "demo data already loaded"
    )
    lines = [
        f"notifier demo: {loaded} into {redact_url(s.database_url)}",
        "channels without credentials print here instead of sending (console channel);",
        "late promises get their apology within a few seconds, below.",
    ]
    if api:
        base = f"http://{s.http_host}:{s.http_port}"
        token = s.api_token.get_secret_value() if s.api_token else ""
        if token:
            lines += [
                f"API: {base}/docs  (bearer token: {token})",
                f"try: curl -H 'Authorization: Bearer {token}' "
                f"{base}/v1/customers/demo-ana/timeline",
            ]
        else:  # never print an empty token: say how to set one
            lines.append(f"API: {base}/docs  (no bearer token: set NOTIFIER_API_TOKEN)")
    lines.append("stop with Ctrl-C")
    typer.echo("\n".join(lines), err=True)

"""Start-up refusals shared by ``notifier run`` and ``notifier channels send``."""

from __future__ import annotations

import typer

from notifier.channels.unsubscribe import link_readiness
from notifier.cli.app import fail
from notifier.config import Settings


def require_links(s: Settings) -> None:
    """Exit 1 with one line unless emails can carry a working unsubscribe link.

    Demo mode brings its own key and URL; test mode keeps sending without links, as the
    end-to-end tests' daemons do.
    """
    if s.demo or s.test_mode:
        return
    readiness = link_readiness(s.links)
    if readiness.refusal is not None:
        fail(readiness.refusal)
    for warning in readiness.warnings:
        typer.echo(f"notifier: warning: {warning}", err=True)

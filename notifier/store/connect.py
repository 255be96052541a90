"""The async engine, made by the URL's dialect; a failed connection says which database."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.errors import NotifierError
from notifier.store.dialects import dialect_for_url


class DatabaseUnavailableError(NotifierError, ConnectionError):
    """The database cannot be reached or opened; the message names it, password masked.

    A ConnectionError too, so that code catching the driver's OSError still catches it.
    """


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """Return an engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    engine = dialect_for_url(url).create_engine(url, echo=echo, pool_size=pool_size)
    event.listen(engine.sync_engine, "do_connect", _naming_failures(url))
    return engine


def database_file(url: str) -> Path | None:
    """The file ``url``'s database lives in, as written in the URL, for what is kept beside it.

    None when the database is no file: PostgreSQL, or SQLite in memory.
    """
    return dialect_for_url(url).database_file(url)


def _naming_failures(url: str) -> Any:
    """A ``do_connect`` hook: a failed connection says which database, and why, in words.

    Without it, a closed port reads ``ConnectionRefusedError: [Errno 111] Connect call
    failed ('127.0.0.1', 5999)`` and never says "database".
    """
    shown = redact_url(url)
    dialect = dialect_for_url(url)
    verb = dialect.open_verb
    folder = dialect.database_folder(url)

    def connect(sa_dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        # Checked first: aiosqlite's worker thread outlives a failed open and, once the
        # loop is closed, prints a traceback of its own after our one line.
        if folder is not None and not folder.is_dir():
            raise DatabaseUnavailableError(f"database {shown}: {verb} (no folder {folder})")
        try:
            return sa_dialect.connect(*cargs, **cparams)
        except (OSError, sa_dialect.loaded_dbapi.Error) as exc:
            raise DatabaseUnavailableError(f"database {shown}: {verb} ({_why(exc)})") from exc

    return connect


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def redact_url(url: str) -> str:
    """Return ``url`` with any password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)

"""The async engine: aiosqlite (WAL, busy timeout) or asyncpg, chosen by the URL."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from notifier.domain.errors import NotifierError

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUnavailableError(NotifierError, ConnectionError):
    """The database cannot be reached or opened; the message names it, password masked.

    A ConnectionError too, so that code catching the driver's OSError still catches it.
    """


def is_sqlite(url: str) -> bool:
    """True when ``url`` names a SQLite database."""
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """Return an engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_deserializer=json_loads,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (isolation_level=None) and we emit
        # BEGIN ourselves, so a writer can take the write lock at the start.
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    else:
        # asyncpg prepares every statement; with a generic plan, `id IN (...1000 ids...)`
        # slows down as a table grows. Custom plans keep batch lookups flat.
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_deserializer=json_loads,
            connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        )
    event.listen(engine.sync_engine, "do_connect", _naming_failures(url))
    return engine


def _naming_failures(url: str) -> Any:
    """A ``do_connect`` hook: a failed connection says which database, and why, in words.

    Without it, a closed port reads ``ConnectionRefusedError: [Errno 111] Connect call
    failed ('127.0.0.1', 5999)`` and never says "database".
    """
    shown = redact_url(url)
    verb = "cannot open" if is_sqlite(url) else "cannot connect"
    folder = _sqlite_folder(url)

    def connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        # Checked first: aiosqlite's worker thread outlives a failed open and, once the
        # loop is closed, prints a traceback of its own after our one line.
        if folder is not None and not folder.is_dir():
            raise DatabaseUnavailableError(f"database {shown}: {verb} (no folder {folder})")
        try:
            return dialect.connect(*cargs, **cparams)
        except (OSError, dialect.loaded_dbapi.Error) as exc:
            raise DatabaseUnavailableError(f"database {shown}: {verb} ({_why(exc)})") from exc

    return connect


def _sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite file database lives in; None for other databases and memory."""
    database = make_url(url).database if is_sqlite(url) else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).parent


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


def json_loads(text: str) -> Any:
    """``json.loads``, with the empty object and list most JSON columns hold answered at once.

    A scan reads three JSON columns per due promise, mostly ``{}`` or ``[]``.
    """
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers ask for IMMEDIATE (the write lock up front, so two writers queue on the busy
    # timeout instead of failing to upgrade); readers stay DEFERRED and never block them.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def redact_url(url: str) -> str:
    """Return ``url`` with any password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)

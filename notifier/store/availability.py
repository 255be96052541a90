"""Which failures mean the database is unavailable: its fault or the machine's, not the request's.

A caller told "unavailable" may try again later (the API answers 503 with Retry-After); any
other error is a bug or bad data, and trying again would not help. ``driver_error_text``
tells a caller that knows no driver whether an error came from the database at all.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa

# SQLSTATE classes and codes that say nothing about the statement (asyncpg's own errors
# carry one too: a lost connection is 08003): a connection lost or refused (08), resources
# exhausted such as a full disk (53), the server shutting down or cancelling (57), an I/O
# error (58), a dropped database (3D000), a read-only standby after a failover (25006), and
# conflicts that a retry resolves (40001, 40P01, 55P03).
_PG_CLASSES = ("08", "53", "57", "58")
_PG_CODES = frozenset({"3D000", "25006", "40001", "40P01", "55P03"})
# SQLite reports every environmental failure as OperationalError; so does a typo in SQL,
# which is ours: only these texts mean the file, the disk or the lock is at fault.
_SQLITE_TEXTS = (
    "database is locked",
    "database table is locked",
    "disk is full",
    "disk i/o error",
    "unable to open database file",
    "readonly database",
)


def unavailable_reason(error: BaseException) -> str | None:
    """Return one line saying why the database is unavailable, or None when it is not that.

    The line never holds the SQL statement or its parameters (they may carry personal data).
    """
    for link in _chain(error):
        reason = _reason(link)
        if reason is not None:
            return reason
    return None


def _reason(error: BaseException) -> str | None:
    if isinstance(error, sa.TimeoutError):
        return "no database connection free in time (the pool is exhausted)"
    if isinstance(error, OSError | sa.InterfaceError):
        return _first_line(error)
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return "the database connection was lost"
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and (state.startswith(_PG_CLASSES) or state in _PG_CODES):
        return f"{_first_line(error)} (SQLSTATE {state})"
    if isinstance(error, sqlite3.OperationalError) and any(
        text in str(error).lower() for text in _SQLITE_TEXTS
    ):
        return _first_line(error)
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """The error, the driver's error it wraps, and their causes, each once."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < 10:
        item = pending.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        orig = getattr(item, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, item.__cause__]
    return seen


def _first_line(error: BaseException) -> str:
    # SQLAlchemy's own text appends the statement and its parameters: take the driver's.
    orig = getattr(error, "orig", None)
    text = str(orig if isinstance(orig, BaseException) else error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line.removeprefix("(sqlalchemy.dialects.postgresql.asyncpg.Error) ")[:200]


def driver_error_text(error: BaseException) -> str | None:
    """The database driver's own message when ``error`` is one the driver raised, else None.

    For a caller that words database failures for people (the CLI) without knowing the
    driver: a missing table, say, reads differently on each database.
    """
    if not isinstance(error, sa.DBAPIError):
        return None
    return str(error.orig) if error.orig is not None else str(error)

"""Which database errors mean "unavailable" (503) and which are ours (500): a table."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa

from notifier.store.availability import unavailable_reason


class _PgError(Exception):
    """A driver error carrying a SQLSTATE, as asyncpg's (and SQLAlchemy's adapter's) do."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrapped(orig: Exception, cls: type[sa.DBAPIError] = sa.DBAPIError) -> sa.DBAPIError:
    return cls("SELECT name FROM customers WHERE phone = ?", ("+5491155551234",), orig)


CASES = [
    pytest.param(_wrapped(sqlite3.OperationalError("database is locked"), sa.OperationalError),
                 "database is locked", id="sqlite-locked"),
    pytest.param(_wrapped(sqlite3.OperationalError("database or disk is full"),
                          sa.OperationalError), "disk is full", id="sqlite-full"),
    pytest.param(_wrapped(sqlite3.OperationalError("attempt to write a readonly database"),
                          sa.OperationalError), "readonly", id="sqlite-readonly"),
    pytest.param(_wrapped(sqlite3.OperationalError("unable to open database file"),
                          sa.OperationalError), "unable to open", id="sqlite-gone"),
    pytest.param(_wrapped(_PgError('database "x" does not exist', "3D000")), "3D000",
                 id="pg-dropped"),
    pytest.param(_wrapped(_PgError("terminating connection", "57P01")), "57P01",
                 id="pg-admin-shutdown"),
    pytest.param(_wrapped(_PgError("could not extend file: No space left", "53100")), "53100",
                 id="pg-disk-full"),
    pytest.param(_wrapped(_PgError("read-only transaction", "25006")), "25006",
                 id="pg-read-only"),
    pytest.param(_wrapped(_PgError("connection does not exist", "08003"), sa.InterfaceError),
                 "connection does not exist", id="pg-connection-lost"),
    pytest.param(ConnectionRefusedError(111, "Connect call failed"), "Connect call failed",
                 id="refused"),
    pytest.param(TimeoutError("timed out"), "timed out", id="timeout"),
    pytest.param(sa.TimeoutError("QueuePool limit"), "pool", id="pool-exhausted"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "words"), CASES)
def test_environmental_failures_are_unavailable(error: Exception, words: str) -> None:
    reason = unavailable_reason(error)
    assert reason is not None and words in reason
    assert "SELECT" not in reason and "+5491155551234" not in reason  # no statement, no data


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"),
                              sa.IntegrityError), id="integrity"),
        pytest.param(_wrapped(sqlite3.OperationalError("no such column: x"),
                              sa.OperationalError), id="sqlite-schema-drift"),
        pytest.param(_wrapped(_PgError("column x does not exist", "42703"),
                              sa.ProgrammingError), id="pg-schema-drift"),
        pytest.param(_wrapped(_PgError("invalid byte sequence", "22021"), sa.DataError),
                     id="pg-bad-data"),
        pytest.param(ValueError("a bug"), id="a-bug"),
    ],
)  # fmt: skip
def test_failures_of_the_statement_or_the_code_are_not(error: Exception) -> None:
    assert unavailable_reason(error) is None


def test_a_cause_is_looked_through() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except OSError as exc:
            raise RuntimeError("while reading") from exc
    except RuntimeError as outer:
        assert unavailable_reason(outer) == "[Errno 104] Connection reset by peer"

"""The dispatcher's batched writes on PostgreSQL: every row passed as column arrays.

An executemany sends one Bind/Execute per row, and asyncpg writes each to the socket;
the dispatcher writes a batch before every round of sends and again after it. One
statement over ``unnest`` arrays per set of columns is parsed once, stays prepared, and
goes in one round trip whatever the batch size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from notifier.store.convert import notifications
from notifier.store.types import UTCDateTime

_INSERT_EVENTS = text("""
INSERT INTO notification_events (notification_id, at, type, channel, reason, detail)
SELECT id, :at, type, channel, reason, CAST(detail AS JSON)
FROM unnest(
  CAST(:ids AS BIGINT[]), CAST(:types AS TEXT[]), CAST(:channels AS TEXT[]),
  CAST(:reasons AS TEXT[]), CAST(:details AS TEXT[])
) WITH ORDINALITY AS v(id, type, channel, reason, detail, n)
ORDER BY n
""")
_statements: dict[tuple[str, ...], TextClause] = {}


def _sql_type(column: str) -> str:
    kind = notifications.c[column].type
    if isinstance(kind, UTCDateTime):
        return "TIMESTAMPTZ"
    if isinstance(kind, BigInteger | Integer):
        return "BIGINT"
    return "TEXT"  # strings, and JSON passed as text and cast in the SET


def _statement(columns: tuple[str, ...]) -> TextClause:
    """Return the UPDATE writing ``columns`` (``attempts`` counts one up) from arrays."""
    if columns not in _statements:
        given = [c for c in columns if c != "attempts"]
        sets = [
            f"{c} = CAST(v.{c} AS JSON)"
            if isinstance(notifications.c[c].type, JSON)
            else f"{c} = v.{c}"
            for c in given
        ]
        if "attempts" in columns:
            sets.append("attempts = n.attempts + 1")
        arrays = ", ".join(f"CAST(:a_{c} AS {_sql_type(c)}[])" for c in ["id", *given])
        _statements[columns] = text(
            f"UPDATE notifications AS n SET {', '.join(sets)} "
            f"FROM unnest({arrays}) AS v({', '.join(['id', *given])}) WHERE n.id = v.id"
        )
    return _statements[columns]


def _array(column: str, values: list[Any]) -> list[Any]:
    """Return one column's values as the statement takes them (JSON as text)."""
    kind = notifications.c[column].type
    if isinstance(kind, JSON):
        return [None if v is None else json.dumps(v) for v in values]
    if isinstance(kind, UTCDateTime) and any(v is not None and v.tzinfo is None for v in values):
        raise ValueError(f"a naive datetime for {column}: every timestamp must be aware")
    return values


async def update_rows(
    conn: AsyncConnection, groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]]
) -> None:
    """Write each group of rows (same columns, distinct ids) with one statement."""
    for columns, rows in groups.items():
        params: dict[str, list[Any]] = {"a_id": [i for i, _ in rows]}
        for c in columns:
            if c != "attempts":
                params[f"a_{c}"] = _array(c, [values[c] for _, values in rows])
        await conn.execute(_statement(columns), params)


async def insert_events(
    conn: AsyncConnection, events: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Insert history lines, all at ``now``, in one statement, in the order given."""
    await conn.execute(
        _INSERT_EVENTS,
        {
            "at": now,
            "ids": [e["notification_id"] for e in events],
            "types": [e["type"] for e in events],
            "channels": [e["channel"] for e in events],
            "reasons": [e["reason"] for e in events],
            "details": [json.dumps(e["detail"]) for e in events],
        },
    )

"""What every query mixin shares: the engine, sessions and the dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from notifier.store.dialects import Dialect, dialect_of


class StoreBase:
    """Holds the engine; queries run on short connections, one transaction each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect: Dialect = dialect_of(engine)

    @property
    def scan_writes_in_flight(self) -> int:
        """How many scan batches are worth writing at once (1 where one writer at a time)."""
        return self.dialect.scan_writes_in_flight

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection inside one transaction, committed on success."""
        async with self.engine.connect() as conn:
            await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection for reads."""
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Ask the database for ``SELECT 1`` (a readiness probe: the caller bounds the wait)."""
        async with self.reading() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Release every pooled connection."""
        await self.engine.dispose()


def among(
    conn: AsyncConnection, column: ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN values``, as ``conn``'s database plans best (PostgreSQL: one array)."""
    return dialect_of(conn).among(column, values)

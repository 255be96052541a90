"""What every query mixin shares: the engine, sessions and the dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from notifier.store.engine import is_sqlite


class StoreBase:
    """Holds the engine; queries run on short connections, one transaction each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite (no SKIP LOCKED; one writer at a time)."""
        return is_sqlite(str(self.engine.url))

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

    async def close(self) -> None:
        """Release every pooled connection."""
        await self.engine.dispose()


def among(
    conn: AsyncConnection, column: ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter, not one placeholder a value.

    A thousand placeholders cost SQLAlchemy their expansion on every execution and
    PostgreSQL a new statement to plan for every list length.
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)

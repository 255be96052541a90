"""What every query mixin shares: the engine, sessions and the dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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

"""PostgreSQL through asyncpg: row locks, SKIP LOCKED, and batches passed as arrays.

The batched writes are this dialect's own statements: ``postgres_changes.py`` (the
dispatcher's) and ``postgres_scan.py`` (the scan's); ``postgres_cluster.py`` holds the
advisory locks that make replicas take turns at the scan and at each customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Double, Integer, Select, Table, any_, bindparam, cast, func
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.outbox import PromiseChange, Scheduled
from notifier.store.dialects import (
    RowGroups,
    postgres_changes,
    postgres_cluster,
    postgres_listen,
    postgres_scan,
)
from notifier.store.event_writes import events_enabled, report_scan
from notifier.store.json_text import json_loads


class Postgres:
    """PostgreSQL: many writers, rows locked one by one."""

    name = "postgresql"
    scan_writes_in_flight = 2  # the scan's batches touch different rows
    naive_timestamps = False  # timestamptz
    open_verb = "cannot connect"
    fenced_lookups = True  # see store/detection_counts.py: 140 ms a scan against 8 ms

    def create_engine(self, url: str, *, echo: bool, pool_size: int) -> AsyncEngine:
        # asyncpg prepares every statement; with a generic plan, `id IN (...1000 ids...)`
        # slows down as a table grows. Custom plans keep batch lookups flat.
        return create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_deserializer=json_loads,
            connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        )

    def decodes_aware_utc(self, driver: str) -> bool:
        # asyncpg decodes timestamptz as aware UTC whatever the session's TimeZone.
        return driver == "asyncpg"

    def database_file(self, url: str) -> Path | None:
        return None

    def database_folder(self, url: str) -> Path | None:
        return None

    def insert(self, table: Table) -> Insert:
        return insert(table)

    def locked(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update()

    def epoch_now(self) -> ColumnElement[float]:
        # statement_timestamp(): one instant for the whole statement, unlike clock_timestamp().
        return cast(func.extract("epoch", func.statement_timestamp()), Double)

    def epoch_day(self, at: ColumnElement[float]) -> ColumnElement[int]:
        return cast(func.floor(at / 86400.0), Integer)

    def greatest(self, *values: ColumnElement[float]) -> ColumnElement[float]:
        return func.greatest(*values)

    def skip_locked(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update(skip_locked=True)

    def json_text(self, column: ColumnElement[Any], path: Sequence[str]) -> ColumnElement[Any]:
        return func.json_extract_path_text(column, *path)

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        # One array parameter, not one placeholder a value: a thousand placeholders cost
        # SQLAlchemy their expansion on every execution and PostgreSQL a new statement to
        # plan for every list length.
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))

    async def insert_events(
        self, conn: AsyncConnection, events: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        await postgres_changes.insert_events(conn, events, now)

    async def update_rows(self, conn: AsyncConnection, groups: RowGroups) -> None:
        await postgres_changes.update_rows(conn, groups)

    async def write_scan(
        self,
        engine: AsyncEngine,
        changes: Sequence[PromiseChange],
        scheduled: Sequence[Scheduled],
        now: datetime,
    ) -> int:
        async with engine.connect() as conn:
            if events_enabled(conn):  # the events commit with the batch: one transaction
                async with conn.begin():
                    written = await postgres_scan.write_batch(conn, changes, scheduled, now)
                    await report_scan(conn, changes, scheduled, now)
                    return written
            # One statement, atomic by itself: no BEGIN and COMMIT round trips.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await postgres_scan.write_batch(conn, changes, scheduled, now)

    def scan_turn(self, engine: AsyncEngine) -> AbstractAsyncContextManager[bool]:
        return postgres_cluster.scan_turn(engine)

    async def announce(self, conn: AsyncConnection, kind: str) -> None:
        await postgres_listen.announce(conn, kind)

    async def follow_changes(
        self, engine: AsyncEngine, changed: Callable[[str], None], stopping: asyncio.Event
    ) -> None:
        await postgres_listen.follow(engine, changed, stopping)

    async def claim_customers(
        self, conn: AsyncConnection, due: Select[Any], limit: int, owner: str, now: datetime
    ) -> tuple[list[int], set[str]]:
        return await postgres_cluster.claim_customers(conn, due, limit, owner, now)

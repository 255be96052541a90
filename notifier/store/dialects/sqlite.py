"""SQLite through aiosqlite: WAL, a busy timeout, and one writer at a time.

With a single writer, taken up front by every write transaction, no row needs a lock of
its own: ``locked`` and ``skip_locked`` leave a query as it is. One daemon a file (the
lock file of ``single_writer.py``) leaves no replica to take turns with: the scan and
every customer are always this process's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Double,
    Integer,
    Select,
    Table,
    bindparam,
    case,
    cast,
    event,
    func,
    literal_column,
    make_url,
    update,
)
from sqlalchemy.dialects.sqlite import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.outbox import PromiseChange, Scheduled
from notifier.store.convert import notification_events, notifications
from notifier.store.dialects import PLUS_ONE, RowGroups, sqlite_scan, sqlite_watch
from notifier.store.event_writes import report_scan
from notifier.store.json_text import json_loads

SQLITE_BUSY_TIMEOUT_MS = 30_000


class Sqlite:
    """SQLite: one file, one writer."""

    name = "sqlite"
    scan_writes_in_flight = 1  # one writer: a second write would wait for the first
    naive_timestamps = True  # no offset kept: naive UTC, the zone put back on reading
    open_verb = "cannot open"
    fenced_lookups = False  # SQLite walks the outer rows and looks each one up by key

    def create_engine(self, url: str, *, echo: bool, pool_size: int) -> AsyncEngine:
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
        return engine

    def decodes_aware_utc(self, driver: str) -> bool:
        return False

    def database_file(self, url: str) -> Path | None:
        database = make_url(url).database
        if database in (None, "", ":memory:"):
            return None
        return Path(str(database))

    def database_folder(self, url: str) -> Path | None:
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).parent

    def insert(self, table: Table) -> Insert:
        return insert(table)

    def locked(self, query: Select[Any]) -> Select[Any]:
        return query

    def epoch_now(self) -> ColumnElement[float]:
        # 'now' is the same instant throughout one statement, to the millisecond.
        return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Double)

    def epoch_day(self, at: ColumnElement[float]) -> ColumnElement[int]:
        return cast(at / 86400.0, Integer)  # truncates: instants after 1970 only

    def greatest(self, *values: ColumnElement[float]) -> ColumnElement[float]:
        return func.max(*values)  # with several arguments, SQLite's scalar max

    def skip_locked(self, query: Select[Any]) -> Select[Any]:
        return query

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        return column.in_(list(values))

    def json_text(self, column: ColumnElement[Any], path: Sequence[str]) -> ColumnElement[Any]:
        quoted = "".join('."' + part.replace('"', '""') + '"' for part in path)
        # json_extract raises on text that is not JSON, and one such row would fail the
        # whole statement: that row reads as absent instead (PostgreSQL refuses it on write).
        valid = case((func.json_valid(column) == 1, column), else_=None)
        return func.json_extract(valid, "$" + quoted)

    async def insert_events(
        self, conn: AsyncConnection, events: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        await conn.execute(notification_events.insert(), events)

    async def update_rows(self, conn: AsyncConnection, groups: RowGroups) -> None:
        # One executemany per set of columns written.
        for key, group in groups.items():
            assignments: dict[str, Any] = {
                k: notifications.c.attempts + 1 if k == "attempts" else bindparam(f"v_{k}")
                for k in key
            }
            params = [
                {"v_id": i, **{f"v_{k}": v for k, v in values.items() if v is not PLUS_ONE}}
                for i, values in group
            ]
            await conn.execute(
                update(notifications)
                .where(notifications.c.id == bindparam("v_id"))
                .values(assignments),
                params,
            )

    async def write_scan(
        self,
        engine: AsyncEngine,
        changes: Sequence[PromiseChange],
        scheduled: Sequence[Scheduled],
        now: datetime,
    ) -> int:
        async with engine.connect() as conn:
            await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                written = await sqlite_scan.write_batch(conn, changes, scheduled, now)
                await report_scan(conn, changes, scheduled, now)
                return written

    def scan_turn(self, engine: AsyncEngine) -> AbstractAsyncContextManager[bool]:
        return _always_mine()

    async def announce(self, conn: AsyncConnection, kind: str) -> None:
        return None  # every commit moves data_version, which the daemon polls: nothing to send

    async def follow_changes(
        self, engine: AsyncEngine, changed: Callable[[str], None], stopping: asyncio.Event
    ) -> None:
        await sqlite_watch.follow(engine, changed, stopping)

    async def claim_customers(
        self, conn: AsyncConnection, due: Select[Any], limit: int, owner: str, now: datetime
    ) -> tuple[list[int], set[str]]:
        rows = (await conn.execute(due.limit(limit))).all()
        return [r[0] for r in rows if r[1] is None], {r[1] for r in rows if r[1] is not None}


@asynccontextmanager
async def _always_mine() -> AsyncIterator[bool]:
    yield True


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

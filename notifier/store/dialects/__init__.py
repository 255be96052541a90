"""What differs between SQLite and PostgreSQL, behind one ``Dialect`` each.

The store picks its dialect once, from the engine (``StoreBase.dialect``), or from a
connection (``dialect_of(conn)``) in functions handed one; query code calls it and never
tests which database it is on. Only this package names a database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Select, Table
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlalchemy.sql.elements import ColumnElement

    from notifier.domain.outbox import PromiseChange, Scheduled

    # Both take ``on_conflict_do_nothing()`` and ``on_conflict_do_update(index_elements=,
    # set_=)``, with the same SQL on either database.
    Upsert = PgInsert | SqliteInsert

# Stands for ``attempts + 1`` in a row's values until the UPDATE is built: building the
# SQL expression once per row cost more than the rest of the row's values together.
PLUS_ONE = object()

# Rows to write, grouped by the columns they write: {columns: [(id, {column: value})]}.
RowGroups = dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]]


class Dialect(Protocol):
    """One database's way of doing what the store's queries need."""

    name: str  # SQLAlchemy's dialect name
    # How many scan batches are worth writing at once: 1 where the database has a single
    # writer (a second write would only wait for the lock), 2 where batches touching
    # different rows go side by side.
    scan_writes_in_flight: int
    naive_timestamps: bool  # keeps no offset: timestamps are stored as naive UTC
    open_verb: str  # what failed when no connection could be made: "cannot open"...
    # Whether a join that must look each row up by key is written as a LATERAL subquery
    # behind OFFSET 0: PostgreSQL's planner may hash the whole looked-up table instead.
    fenced_lookups: bool

    def create_engine(self, url: str, *, echo: bool, pool_size: int) -> AsyncEngine:
        """Return an engine for ``url`` tuned for this database."""
        ...

    def decodes_aware_utc(self, driver: str) -> bool:
        """True when ``driver`` returns timestamps as aware UTC already (nothing to convert)."""
        ...

    def database_file(self, url: str) -> Path | None:
        """The file ``url``'s database lives in, as written; None when it is no file."""
        ...

    def database_folder(self, url: str) -> Path | None:
        """The folder that must exist for ``url`` to open; None when none must."""
        ...

    def insert(self, table: Table) -> Upsert:
        """An INSERT into ``table`` that can take an ON CONFLICT clause."""
        ...

    def locked(self, query: Select[Any]) -> Select[Any]:
        """``query`` locking the rows it reads until the transaction ends (where rows lock)."""
        ...

    def skip_locked(self, query: Select[Any]) -> Select[Any]:
        """``query`` locking its rows and passing over rows another transaction holds."""
        ...

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        """``column IN values``, as this database plans best."""
        ...

    def json_text(self, column: ColumnElement[Any], path: Sequence[str]) -> ColumnElement[Any]:
        """The JSON value at ``path`` in ``column``: a string as its text, NULL when absent.

        Numbers, booleans and objects come out in each database's own form: compare only
        strings with it exactly (``store/incident_segments.py`` says which values those are).
        """
        ...

    def epoch_now(self) -> ColumnElement[float]:
        """The database's clock in seconds since the epoch, one value per statement."""
        ...

    def epoch_day(self, at: ColumnElement[float]) -> ColumnElement[int]:
        """The UTC day (days since the epoch) of ``at``, seconds since the epoch."""
        ...

    def greatest(self, *values: ColumnElement[float]) -> ColumnElement[float]:
        """The largest of ``values`` (PostgreSQL's ``greatest``, SQLite's scalar ``max``)."""
        ...

    async def insert_events(
        self, conn: AsyncConnection, events: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        """Insert notification history lines (``notification_events`` rows) in order."""
        ...

    async def update_rows(self, conn: AsyncConnection, groups: RowGroups) -> None:
        """UPDATE ``notifications``: each group's rows (same columns, distinct ids) at once.

        A value ``PLUS_ONE`` (only ever for ``attempts``) counts the column one up.
        """
        ...

    async def write_scan(
        self,
        engine: AsyncEngine,
        changes: Sequence[PromiseChange],
        scheduled: Sequence[Scheduled],
        now: datetime,
    ) -> int:
        """Write one scan batch atomically; return how many outbox rows went in."""
        ...

    def scan_turn(self, engine: AsyncEngine) -> AbstractAsyncContextManager[bool]:
        """Enter True when this process is to scan now, False when another replica is."""
        ...

    async def announce(self, conn: AsyncConnection, kind: str) -> None:
        """Tell the other processes, once ``conn`` commits, of an earlier check or send."""
        ...

    async def follow_changes(
        self, engine: AsyncEngine, changed: Callable[[str], None], stopping: asyncio.Event
    ) -> None:
        """Call ``changed(kind)`` when another process may have moved a check or send earlier.

        Runs until ``stopping`` is set, through database outages; ``changed("listening")``
        each time it starts (again): what changed meanwhile went unheard.
        """
        ...

    async def claim_customers(
        self, conn: AsyncConnection, due: Select[Any], limit: int, owner: str, now: datetime
    ) -> tuple[list[int], set[str]]:
        """Pick up to ``limit`` of ``due``'s (id, customer_id) rows, in order, to claim.

        Return the rows without a customer and the customers a claim on ``conn`` takes,
        held until it ends: those another claim holds, or whose rows another replica is
        sending, are left out.
        """
        ...


def dialect_for_url(url: str) -> Dialect:
    """The dialect of the database ``url`` names."""
    return dialect_named("sqlite" if url.startswith("sqlite") else "postgresql")


def dialect_of(bind: AsyncConnection | AsyncEngine) -> Dialect:
    """The dialect of the database ``bind`` talks to."""
    return dialect_named(bind.dialect.name)


def dialect_named(name: str) -> Dialect:
    """The dialect SQLAlchemy calls ``name``."""
    # A dict lookup: column types ask for every timestamp they bind.
    dialect = _BY_NAME.get(name)
    return dialect if dialect is not None else _load(name)


_BY_NAME: dict[str, Dialect] = {}


def _load(name: str) -> Dialect:
    # Imported on first use: the dialects use the tables, whose column types ask here.
    from notifier.store.dialects.postgres import Postgres
    from notifier.store.dialects.sqlite import Sqlite

    _BY_NAME.update({"sqlite": Sqlite(), "postgresql": Postgres()})
    if name not in _BY_NAME:
        raise ValueError(f"no dialect for database {name!r}: SQLite or PostgreSQL")
    return _BY_NAME[name]

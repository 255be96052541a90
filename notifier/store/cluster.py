"""Work the replicas share: whose turn the scan is, who runs a periodic job this tick.

- The scan's turn is the dialect's (``Dialect.scan_turn``): an advisory lock on
  PostgreSQL, always this process on SQLite (one daemon a file).
- A periodic job runs once a tick across the cluster, as procrastinate's periodic
  tasks do with a unique row per tick: each job has one ``daemon_state`` row (key
  ``job:<name>``) holding the start of the last tick it ran for. The replica whose
  upsert moves it forward runs the tick; the others find it there already and skip.
  No table of its own, no migration: ``notifier status`` skips keys it does not know.
- Outcome writes are fenced by the lease (``held_by``): the rows a write may change
  are those still leased to the writer, locked until the write commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.outbox import Change
from notifier.store.base import StoreBase, among
from notifier.store.convert import notifications
from notifier.store.dialects import dialect_of
from notifier.store.tables import StateRow

log = structlog.get_logger("notifier.dispatch")
JOB_PREFIX = "job:"
state = StateRow.__table__  # type: ignore[attr-defined]


class ClusterQueries(StoreBase):
    def scan_turn(self) -> AbstractAsyncContextManager[bool]:
        """Enter True when this process is to scan now, False when another replica is."""
        return self.dialect.scan_turn(self.engine)

    async def claim_tick(self, job: str, tick: datetime, every: timedelta, owner: str) -> bool:
        """Take the periodic ``job``'s tick starting at ``tick``: True for one replica only.

        ``tick`` is the start of the period ``every`` long (the same instant on every
        replica). A tick earlier than the one last taken is not taken, unless the one last
        taken lies more than a period ahead: a clock set back does not stop the job.
        """
        value = {"owner": owner, "tick": tick.isoformat()}
        statement = (
            self.dialect.insert(state)
            .values(key=JOB_PREFIX + job, value=value, updated_at=tick)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={"value": value, "updated_at": tick},
                where=or_(state.c.updated_at < tick, state.c.updated_at > tick + every),
            )
            .returning(state.c.key)
        )
        async with self.transaction() as conn:
            return (await conn.execute(statement)).first() is not None


async def fenced(conn: AsyncConnection, changes: Sequence[Change], owner: str) -> list[Change]:
    """The changes of ``changes`` to rows still leased to ``owner``; the others logged."""
    held = await held_by(conn, [c.id for c in changes], owner)
    lost = sorted({c.id for c in changes if c.id not in held})
    if lost:
        log.warning("outcome.lease_lost", owner=owner, notification_ids=lost[:50], count=len(lost))
    return [c for c in changes if c.id in held]


async def held_by(conn: AsyncConnection, ids: Sequence[int], owner: str) -> set[int]:
    """Return which of ``ids`` are leased to ``owner``, locked until ``conn`` commits."""
    if not ids:
        return set()
    query = select(notifications.c.id).where(
        among(conn, notifications.c.id, set(ids)), notifications.c.lease_owner == owner
    )
    rows = await conn.execute(dialect_of(conn).locked(query))
    return {int(r[0]) for r in rows}

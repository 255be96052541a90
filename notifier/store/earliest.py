"""When the daemon must look next: the earliest check and send, and other processes' changes.

Both instants come from an index (``ix_promises_next_check_at``, partial on NOT NULL, and
``ix_notifications_status_not_before``): its first entry, however large the tables. A
write that moves either earlier calls ``announce`` in its own transaction, so that other
processes hear of it (``Dialect.announce``: NOTIFY on PostgreSQL; on SQLite the commit
itself is the signal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import NotificationStatus
from notifier.store.base import StoreBase
from notifier.store.convert import incidents, notifications, promises
from notifier.store.dialects import dialect_of

CHECK = "check"  # the kind of change announced: a promise's check moved earlier
SEND = "send"  # a pending notification's send moved earlier


class EarliestQueries(StoreBase):
    async def earliest_check(self) -> datetime | None:
        """The earliest ``next_check_at`` of any promise or ``plan_at`` of any incident (the
        scan plans both); None when nothing waits for one."""
        found: list[datetime] = []
        async with self.reading() as conn:
            for column in (promises.c.next_check_at, incidents.c.plan_at):
                query = select(column).where(column.is_not(None)).order_by(column).limit(1)
                at: datetime | None = await conn.scalar(query)
                if at is not None:
                    found.append(at)
        return min(found, default=None)

    async def earliest_send(self) -> datetime | None:
        """The earliest ``not_before`` of a pending notification; None when none is pending."""
        # ORDER BY ... LIMIT 1, not min(): the first entry of the (status, not_before)
        # index, however many rows are pending, whatever the planner makes of an aggregate.
        column = notifications.c.not_before
        pending = notifications.c.status == NotificationStatus.PENDING.value
        query = select(column).where(pending).order_by(column).limit(1)
        async with self.reading() as conn:
            found: datetime | None = await conn.scalar(query)
        return found

    async def follow_changes(self, changed: Callable[[str], None], stopping: asyncio.Event) -> None:
        """Call ``changed(kind)`` whenever another process may have moved a check or send
        earlier, until ``stopping`` is set; ``"listening"`` each time it starts listening."""
        await self.dialect.follow_changes(self.engine, changed, stopping)


async def announce(conn: AsyncConnection, kind: str) -> None:
    """Tell the daemons, once ``conn``'s transaction commits, of an earlier check or send."""
    await dialect_of(conn).announce(conn, kind)

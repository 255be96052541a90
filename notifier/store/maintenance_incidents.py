"""The incidents planned maintenance opened, found by their unique ``source``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select

from notifier.domain.incidents import OPEN
from notifier.domain.maintenance import SOURCE_PREFIX, Opened
from notifier.store.base import StoreBase, among
from notifier.store.convert import incident_updates, incidents


class MaintenanceQueries(StoreBase):
    async def maintenance_incidents(self, sources: Sequence[str]) -> list[Opened]:
        """Return the incidents of ``sources`` (whatever their status) and every open one
        another maintenance opened (one that left the files)."""
        i, u = incidents.c, incident_updates.c
        open_ones = i.source.startswith(SOURCE_PREFIX, autoescape=True) & i.status.in_(
            [s.value for s in OPEN]
        )
        async with self.reading() as conn:
            named = among(conn, i.source, sorted(set(sources))) if sources else None
            where = open_ones if named is None else or_(named, open_ones)
            rows = (await conn.execute(select(i.id, i.source, i.status).where(where))).all()
            if not rows:
                return []
            # The estimate each maintenance itself last published: its end, as applied.
            steps = await conn.execute(
                select(u.incident_id, u.by, u.estimate_at)
                .where(among(conn, u.incident_id, [r.id for r in rows]), u.step.is_not(None))
                .order_by(u.id)
            )
            published: dict[int, datetime | None] = {}
            by_id = {r.id: r.source for r in rows}
            for s in steps:
                if s.by == by_id[s.incident_id]:
                    published[s.incident_id] = s.estimate_at
        return [Opened(r.source, int(r.id), r.status in OPEN, published.get(r.id)) for r in rows]

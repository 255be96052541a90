"""How an incident's fan-out stands, counted by the database: one GROUP BY, not a row each.

``show --watch`` polls this every second while 100,000 customers are told, so nothing is
read per customer: each customer's rows are ranked in SQL (the first told opening or
update, else the newest row), the chosen row's state is the CASE below (the states of
``domain/incident_counts.py``), and only (state, channel, customers, resolved) come back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.crisis import PAUSED, TOLD, WAITING
from notifier.domain.incident_counts import NO_CHANNEL, Counts, StateGroup, counts_of
from notifier.domain.incidents import RESOLVED
from notifier.store.base import StoreBase
from notifier.store.convert import incident_customers, notifications

_TOLD = sorted(s.value for s in TOLD)
_OPEN = ("pending", "sending")


def _state(told: ColumnElement[bool], now: datetime) -> ColumnElement[str]:
    """The customer's state read off their chosen row (told: any of theirs was)."""
    n = notifications.c
    return case(
        (told, literal("told")),
        (and_(n.status.in_(_OPEN), n.error_code.in_((PAUSED, WAITING))), literal("held")),
        (and_(n.status == "pending", n.attempted_at.is_(None), n.not_before > now),
         literal("deferred")),
        (n.status.in_(_OPEN), literal("pending")),
        (n.status.in_(("failed", "undelivered")), literal("failed")),
        (n.status == "suppressed", literal("skipped")),
        else_=literal("cancelled"),
    )  # fmt: skip


class IncidentCountQueries(StoreBase):
    async def incident_counts(self, incident_id: int, now: datetime) -> Counts:
        """Return how the incident's fan-out stands: affected, told, pending ... by channel."""
        n = notifications.c
        told = and_(n.message != RESOLVED, n.status.in_(_TOLD))
        told_rank = case((told, 0), else_=1)
        resolved = case((and_(n.message == RESOLVED, n.status.in_(_TOLD)), 1), else_=0)
        ranked = (
            select(
                _state(told, now).label("state"),
                func.coalesce(n.channel, NO_CHANNEL).label("channel"),
                func.max(resolved).over(partition_by=n.customer_id).label("resolved"),
                func.row_number()
                .over(  # the first told row, else the newest
                    partition_by=n.customer_id,
                    order_by=(told_rank, case((told, n.step), else_=-n.step)),
                )
                .label("rank"),
            )
            .where(n.incident_id == incident_id, n.customer_id.is_not(None))
            .subquery()
        )
        r = ranked.c
        grouped = (
            select(r.state, r.channel, func.count(), func.sum(r.resolved))
            .where(r.rank == 1)
            .group_by(r.state, r.channel)
        )
        async with self.reading() as conn:
            affected = await conn.scalar(
                select(func.count()).select_from(incident_customers)
                .where(incident_customers.c.incident_id == incident_id)
            )  # fmt: skip
            groups = [
                StateGroup(s, c, int(k), int(v or 0)) for s, c, k, v in await conn.execute(grouped)
            ]
        return counts_of(int(affected or 0), groups)

"""The relay's side of the event outbox: claims by stream head, with a lease; outcomes.

A stream's events go one at a time, in sequence: only an event with no earlier one
pending in its stream (the head) can be claimed, and a claimed head holds its stream until
it is delivered, parked or its lease runs out. On PostgreSQL two replicas' claims pass
over each other's rows (SKIP LOCKED); SQLite has a single writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import aliased

from notifier.domain.crm_events import EventBacklog, PendingEvent, PostOutcome
from notifier.store.base import StoreBase
from notifier.store.convert import event_outbox

_e = event_outbox.c
_PENDING = and_(_e.delivered_at.is_(None), _e.parked_at.is_(None))


class EventRelayQueries(StoreBase):
    async def claim_events(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[PendingEvent]:
        """Lease to ``owner`` up to ``limit`` due stream heads, oldest first."""
        # A correlated min, probed per row through the (stream, sequence) index while the
        # (not_before, id) index is read in order until enough heads are found: an
        # anti-join instead was planned as a nested loop over stale statistics, seconds
        # for a few thousand events.
        earlier = aliased(event_outbox)
        first = (
            select(func.min(earlier.c.sequence))
            .where(earlier.c.stream == _e.stream, earlier.c.delivered_at.is_(None),
                   earlier.c.parked_at.is_(None))
            .scalar_subquery()
        )  # fmt: skip
        heads = (
            select(_e.id)
            .where(_PENDING, _e.not_before <= now,
                   or_(_e.lease_until.is_(None), _e.lease_until < now), _e.sequence == first)
            .order_by(_e.not_before, _e.id)
            .limit(limit)
        )  # fmt: skip
        async with self.transaction() as conn:
            picked = self.dialect.skip_locked(heads).cte("heads")
            rows = await conn.execute(
                update(event_outbox)
                .where(_e.id.in_(select(picked.c.id)))
                .values(lease_owner=owner, lease_until=now + lease)
                .returning(_e.id, _e.key, _e.stream, _e.sequence, _e.body, _e.attempts)
            )
            claimed = [PendingEvent(*r) for r in rows]
        claimed.sort(key=lambda e: e.id)
        return claimed

    async def record_posts(
        self, outcomes: Sequence[PostOutcome], owner: str, now: datetime
    ) -> None:
        """Record a round's answers in one transaction (one writer at a time on SQLite).

        A delivered event is done whoever holds its lease now. A failure is due again at
        its ``retry_at``, or parked without one; it is fenced by ``owner``'s lease, so a
        row another replica took meanwhile is left alone.
        """
        done = [o.event_id for o in outcomes if o.delivered]
        failed = [o for o in outcomes if not o.delivered]
        async with self.transaction() as conn:
            if done:
                await conn.execute(
                    update(event_outbox)
                    .where(_e.id.in_(done), _e.delivered_at.is_(None))
                    .values(delivered_at=now, attempts=_e.attempts + 1, lease_owner=None,
                            lease_until=None, last_error=None)
                )  # fmt: skip
            for o in failed:
                values: dict[str, Any] = {
                    "attempts": _e.attempts + 1, "last_error": (o.error or "")[:300],
                    "lease_owner": None, "lease_until": None,
                }  # fmt: skip
                if o.retry_at is None:
                    values["parked_at"] = now
                else:
                    values["not_before"] = o.retry_at
                await conn.execute(
                    update(event_outbox)
                    .where(_e.id == o.event_id, _e.lease_owner == owner,
                           _e.delivered_at.is_(None))
                    .values(values)
                )  # fmt: skip

    async def release_events(self, owner: str) -> int:
        """Give back the events ``owner`` leased and did not finish (shutdown)."""
        async with self.transaction() as conn:
            result = await conn.execute(
                update(event_outbox)
                .where(_e.lease_owner == owner, _PENDING)
                .values(lease_owner=None, lease_until=None)
            )
            return int(result.rowcount or 0)

    async def requeue_parked(self, now: datetime) -> int:
        """Put every parked event back in line (ops fixed the receiver); return how many."""
        async with self.transaction() as conn:
            result = await conn.execute(
                update(event_outbox)
                .where(_e.parked_at.is_not(None), _e.delivered_at.is_(None))
                .values(parked_at=None, not_before=now, attempts=0)
            )
            return int(result.rowcount or 0)

    async def purge_delivered(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` events delivered before ``before``; return how many."""
        async with self.transaction() as conn:
            old = (
                select(_e.id)
                .where(_e.delivered_at.is_not(None), _e.delivered_at < before)
                .order_by(_e.id)
                .limit(limit)
            )
            result = await conn.execute(delete(event_outbox).where(_e.id.in_(old)))
            return int(result.rowcount or 0)

    async def event_backlog(self) -> EventBacklog:
        """Return how many events wait, since when, and how many the receiver refused."""
        async with self.reading() as conn:
            pending, oldest = (
                await conn.execute(select(func.count(), func.min(_e.created_at)).where(_PENDING))
            ).one()
            parked = (
                await conn.execute(
                    select(func.count()).where(_e.parked_at.is_not(None), _e.delivered_at.is_(None))
                )
            ).scalar_one()
        return EventBacklog(int(pending), oldest, int(parked))

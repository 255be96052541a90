"""The cluster's rate buckets: each grant reserved in one statement, on the database's clock.

``reserve`` is ``domain.pacing.reserve`` as one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``: the row lock serialises replicas, and the slot comes back with the
database's own ``now``, so a replica's clock being off does not move its sends (the
replica's clock just before and after the statement comes back too: the database's
``now`` lies between, ``domain.pacing.ClockBounds``). A grant refused for the daily
quota updates nothing and returns no row.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Double, bindparam, case, literal, select
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.pacing import BucketState, Reservation, next_day
from notifier.store.base import StoreBase
from notifier.store.tables import RateBucketRow

rate_buckets = RateBucketRow.__table__  # type: ignore[attr-defined]
_b = rate_buckets.c


class RateBucketQueries(StoreBase):
    def _now(self, now: float | None) -> ColumnElement[float]:
        return self.dialect.epoch_now() if now is None else literal(now, Double)

    async def reserve_rate(
        self,
        channel: str,
        sender: str,
        cost: float,
        per_second: float,
        *,
        count: int = 1,
        per_day: int | None = None,
        now: float | None = None,
        lead: float = 0.0,
    ) -> Reservation:
        """Reserve ``cost`` tokens (``count`` messages) of the sender's rate; see the module.

        ``now``: the instant to reserve at (tests); None, the database's clock. ``lead``:
        the slot no sooner than that after it (``domain.pacing.reserve``).
        """
        if per_second <= 0:
            raise ValueError("a rate must be greater than zero")
        if per_day is not None and count > per_day:
            at = time.time() if now is None else now
            return Reservation(None, at, next_day(at))
        clock = self._now(now)
        step = bindparam("step", cost / per_second, Double)
        earliest = clock + bindparam("lead", max(0.0, lead), Double)
        today = self.dialect.epoch_day(clock)
        used: Any = case((_b.day == today, _b.day_count), else_=0)  # a new day: none yet
        insert = self.dialect.insert(rate_buckets).values(
            channel=channel, sender=sender, tat=earliest + step, blocked_until=0.0,
            day=today, day_count=count,
        )  # fmt: skip
        room = None if per_day is None else used + count <= per_day
        statement = insert.on_conflict_do_update(
            index_elements=[_b.channel, _b.sender],
            set_={"tat": self.dialect.greatest(_b.tat, earliest, _b.blocked_until) + step,
                  "day": today, "day_count": used + count},
            where=room,
        ).returning(_b.tat, clock)  # fmt: skip
        async with self.transaction() as conn:
            asked = time.time()
            row = (await conn.execute(statement)).first()
            answered = time.time()
        if row is None:
            at = time.time() if now is None else now
            return Reservation(None, at, next_day(at))
        tat, at = float(row[0]), float(row[1])
        return Reservation(tat - cost / per_second, at, asked=asked, answered=answered)

    async def throttle_rate(
        self, channel: str, sender: str, retry_after: float, *, now: float | None = None
    ) -> None:
        """Hold every grant of the sender back until ``retry_after`` seconds from now."""
        clock = self._now(now)
        until = clock + bindparam("retry_after", max(0.0, retry_after), Double)
        insert = self.dialect.insert(rate_buckets).values(
            channel=channel, sender=sender, tat=clock, blocked_until=until,
            day=self.dialect.epoch_day(clock), day_count=0,
        )  # fmt: skip
        statement = insert.on_conflict_do_update(
            index_elements=[_b.channel, _b.sender],
            set_={"blocked_until": self.dialect.greatest(_b.blocked_until, until)},
        )
        async with self.transaction() as conn:
            await conn.execute(statement)

    async def rate_bucket(self, channel: str, sender: str) -> BucketState | None:
        """Return the sender's bucket as stored (None before its first grant)."""
        async with self.reading() as conn:
            row = (
                await conn.execute(
                    select(_b.tat, _b.blocked_until, _b.day, _b.day_count).where(
                        _b.channel == channel, _b.sender == sender
                    )
                )
            ).first()
        if row is None:
            return None
        return BucketState(float(row[0]), float(row[1]), int(row[2]), int(row[3]))

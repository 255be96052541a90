"""Promises and their events: idempotent upserts, reschedules, keep and cancel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.errors import ConflictError, NotFoundError
from notifier.domain.ingest import PromiseData, RowError, Upserted
from notifier.domain.ledger import Refusal, reschedule, rescheduled_data, settle
from notifier.domain.models import (
    Promise,
    PromiseEvent,
    PromiseEventType,
    PromiseStatus,
    Source,
)
from notifier.store.base import StoreBase, among
from notifier.store.convert import (
    converted,
    promise_events,
    promises,
    to_promise,
    to_promise_event,
)
from notifier.store.dialects import dialect_of
from notifier.store.earliest import CHECK, announce
from notifier.store.event_writes import report_promises
from notifier.store.revisions import promise_changes
from notifier.store.upserts import upsert_promises


class PromiseQueries(StoreBase):
    async def upsert_promises(
        self, items: Sequence[PromiseData], source: Source, now: datetime
    ) -> list[Upserted | RowError]:
        """Create or update each promise by ``external_ref``, in one transaction.

        A promise created or changed is due for a check now: the daemons are told.
        """
        async with self.transaction() as conn:
            results = await upsert_promises(conn, items, source, now)
            if any(isinstance(r, Upserted) and r.changed for r in results):
                await announce(conn, CHECK)
            return results

    async def get_promise(self, promise_id: int) -> Promise | None:
        """Return the promise, or None when unknown."""
        async with self.reading() as conn:
            row = (
                (await conn.execute(select(promises).where(promises.c.id == promise_id)))
                .mappings()
                .first()
            )
        return to_promise(row) if row else None

    async def get_promises(
        self, ids: Sequence[int], unreadable: dict[int, str] | None = None
    ) -> dict[int, Promise]:
        """Return the known promises among ``ids``, by id (unreadable rows as get_customers)."""
        if not ids:
            return {}
        async with self.reading() as conn:
            rows = await conn.execute(select(promises).where(among(conn, promises.c.id, set(ids))))
            return converted(rows.mappings(), to_promise, unreadable)

    async def list_promises(
        self,
        *,
        customer_id: str | None = None,
        status: PromiseStatus | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[Promise]:
        """Return promises in id order, filtered, one page at a time."""
        query = select(promises).order_by(promises.c.id).limit(limit)
        if customer_id is not None:
            query = query.where(promises.c.customer_id == customer_id)
        if status is not None:
            query = query.where(promises.c.status == status.value)
        if after_id is not None:
            query = query.where(promises.c.id > after_id)
        async with self.reading() as conn:
            return [to_promise(r) for r in (await conn.execute(query)).mappings()]

    async def recheck_unsettled(self, now: datetime, batch: int = 5000) -> int:
        """Make every open or broken promise due for a check now, a batch at a time."""
        unsettled = [PromiseStatus.OPEN.value, PromiseStatus.BROKEN.value]
        last, total = 0, 0
        while True:
            async with self.transaction() as conn:
                ids = [
                    r[0]
                    for r in await conn.execute(
                        select(promises.c.id)
                        .where(promises.c.id > last, promises.c.status.in_(unsettled))
                        .order_by(promises.c.id)
                        .limit(batch)
                    )
                ]
                if not ids:
                    return total
                await conn.execute(
                    update(promises).where(promises.c.id.in_(ids)).values(next_check_at=now)
                )
                await announce(conn, CHECK)
            last, total = ids[-1], total + len(ids)

    async def promise_events(self, promise_id: int) -> list[PromiseEvent]:
        """Return the promise's events, oldest first."""
        query = (
            select(promise_events)
            .where(promise_events.c.promise_id == promise_id)
            .order_by(promise_events.c.at, promise_events.c.id)
        )
        async with self.reading() as conn:
            return [to_promise_event(r) for r in (await conn.execute(query)).mappings()]

    async def settle_promise(
        self, promise_id: int, event: PromiseEventType, source: Source, now: datetime
    ) -> Promise:
        """Keep or cancel the promise (``domain.ledger.settle``), under the row's lock."""
        async with self.transaction() as conn:
            before = to_promise(await _locked(conn, promise_id))
            after = settle(before, event, now)
            if isinstance(after, Refusal):
                raise ConflictError(after.reason)
            if after is not before:
                await _write(conn, before, after)
                await announce(conn, CHECK)
                await _event(conn, promise_id, event, now, source, after.deadline_version, {})
            return after

    async def reschedule_promise(
        self,
        promise_id: int,
        due_at: datetime,
        window_start: datetime | None,
        source: Source,
        now: datetime,
    ) -> Promise:
        """Move the deadline (``domain.ledger.reschedule``), under the row's lock."""
        async with self.transaction() as conn:
            before = to_promise(await _locked(conn, promise_id))
            after = reschedule(before, due_at, window_start, now)
            if isinstance(after, Refusal):
                raise ConflictError(after.reason)
            if after is not before:
                await _write(conn, before, after)
                await announce(conn, CHECK)
                await _event(
                    conn, promise_id, PromiseEventType.RESCHEDULED, now, source,
                    after.deadline_version, rescheduled_data(before, after),
                )  # fmt: skip
            return after


async def _write(conn: AsyncConnection, before: Promise, after: Promise) -> None:
    changes = promise_changes(before, after)
    await conn.execute(update(promises).where(promises.c.id == before.id).values(changes))


async def _locked(conn: AsyncConnection, promise_id: int) -> dict[str, Any]:
    query = dialect_of(conn).locked(select(promises).where(promises.c.id == promise_id))
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFoundError(f"unknown promise {promise_id}")
    return dict(row)


async def _event(
    conn: AsyncConnection,
    promise_id: int,
    type_: PromiseEventType,
    at: datetime,
    source: Source,
    deadline_version: int,
    data: Mapping[str, Any],
) -> None:
    await conn.execute(
        promise_events.insert().values(
            promise_id=promise_id,
            type=type_.value,
            at=at,
            source=source.value,
            deadline_version=deadline_version,
            data=dict(data),
        )
    )
    await report_promises(conn, [{"promise_id": promise_id, "type": type_.value}], at)

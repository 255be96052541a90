"""The scan's reads: the promises whose check is due, batch after batch, with their context."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import Customer
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import DuePromise
from notifier.store.base import StoreBase, among
from notifier.store.convert import customers, notifications, promises, to_customer, to_promise

_PROMISE_NAMES = tuple(c.name for c in promises.c)
_CUSTOMER_NAMES = tuple(c.name for c in customers.c)
_CUSTOMER_COLUMNS = tuple(c.label(f"customer_{c.name}") for c in customers.c)


class DueQueries(StoreBase):
    async def due_promises(self, now: datetime, limit: int) -> list[DuePromise]:
        """Return up to ``limit`` promises whose check is due, earliest first, from the index."""
        async with self.reading() as conn:
            rows = (await conn.execute(_due_query(now, limit))).all()
            return await _due(conn, rows)

    async def due_batches(
        self, now: datetime, size: int, limit: int
    ) -> AsyncGenerator[list[DuePromise], None]:
        """Yield the promises whose check is due, earliest first, ``size`` at a time.

        One query, streamed from the snapshot it started with: the scan writes each batch
        while the next is read, and no promise comes twice. A promise changed meanwhile is
        read as it was; the scan's optimistic write leaves such a row to the next scan.
        """
        async with self.reading() as conn:
            result = await conn.stream(
                _due_query(now, limit), execution_options={"yield_per": size}
            )
            async for rows in result.partitions(size):
                yield await _due(conn, rows)

    async def next_checks(
        self, customer_ids: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[tuple[int, datetime]]]:
        """Return, per customer, their promises' checks due in (after, until].

        Promises in plan error are left out: the scan retries them, it expects no notice.
        """
        if not customer_ids:
            return {}
        async with self.reading() as conn:
            rows = await conn.execute(
                select(promises.c.customer_id, promises.c.id, promises.c.next_check_at).where(
                    among(conn, promises.c.customer_id, set(customer_ids)),
                    promises.c.next_check_at > after,
                    promises.c.next_check_at <= until,
                    promises.c.plan_errors == 0,  # its next check gives no notice
                )
            )
            found: dict[str, list[tuple[int, datetime]]] = {}
            for cid, pid, at in rows:
                found.setdefault(cid, []).append((pid, at))
            return found


def _due_query(now: datetime, limit: int) -> Select[Any]:
    # The partial index on next_check_at gives the order; each row carries its customer.
    return (
        select(promises, *_CUSTOMER_COLUMNS)
        .join(customers, customers.c.id == promises.c.customer_id)
        .where(promises.c.next_check_at.is_not(None), promises.c.next_check_at <= now)
        .order_by(promises.c.next_check_at)
        .limit(limit)
    )


async def _due(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[DuePromise]:
    """Return the due promises of ``rows``, each with its customer and what it was sent."""
    if not rows:
        return []
    keys = await _sent_keys(conn, [r[0] for r in rows])
    split = len(_PROMISE_NAMES)
    found: dict[str, Customer] = {}
    due = []
    for r in rows:
        values = tuple(r)
        promise = to_promise(dict(zip(_PROMISE_NAMES, values[:split], strict=True)))
        customer = found.get(promise.customer_id)
        if customer is None:
            customer = to_customer(dict(zip(_CUSTOMER_NAMES, values[split:], strict=True)))
            found[promise.customer_id] = customer
        due.append(DuePromise(promise, customer, SentLedger(keys.get(promise.id, frozenset()))))
    return due


async def _sent_keys(conn: AsyncConnection, promise_ids: list[int]) -> dict[int, frozenset[str]]:
    rows = await conn.execute(
        select(notifications.c.promise_id, notifications.c.dedupe_key).where(
            among(conn, notifications.c.promise_id, promise_ids)
        )
    )
    keys: dict[int, set[str]] = {}
    for pid, key in rows:
        keys.setdefault(pid, set()).add(key)
    return {pid: frozenset(k) for pid, k in keys.items()}

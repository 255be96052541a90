"""The scan's reads: the promises whose check is due, batch after batch, with their context."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.crisis import MUTED_BY_INCIDENT
from notifier.domain.models import Customer, NotificationStatus, PromiseEventType, Source
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import DuePromise
from notifier.store.base import StoreBase, among
from notifier.store.convert import (
    customers,
    notifications,
    promise_events,
    promises,
    to_customer,
    to_promise,
)

log = structlog.get_logger("notifier.scan")
# A row no version of the code can read (an INSERT by hand, a bad value): nothing but an edit
# changes it, so it is looked at again only this much later, and listed as a plan error.
UNREADABLE_RECHECK = timedelta(hours=1)
Unreadable = list[tuple[int, int, str]]  # promise id, deadline version, why

_PROMISE_NAMES = tuple(c.name for c in promises.c)
_CUSTOMER_NAMES = tuple(c.name for c in customers.c)
_CUSTOMER_COLUMNS = tuple(c.label(f"customer_{c.name}") for c in customers.c)


class DueQueries(StoreBase):
    async def due_promises(self, now: datetime, limit: int) -> list[DuePromise]:
        """Return up to ``limit`` promises whose check is due, earliest first, from the index."""
        async with self.reading() as conn:
            rows = (await conn.execute(_due_query(now, limit))).all()
            due, unreadable = await _due(conn, rows)
        await self.park_unreadable(unreadable, now)
        return due

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
                due, unreadable = await _due(conn, rows)
                await self.park_unreadable(unreadable, now)
                yield due

    async def park_unreadable(self, unreadable: Unreadable, now: datetime) -> None:
        """Put off promises whose row cannot be read, each with a ``plan_error`` event."""
        if not unreadable:
            return
        until = now + UNREADABLE_RECHECK
        async with self.transaction() as conn:
            for pid, _, reason in unreadable:
                state = {"rule": None, "reason": reason, "since": now.isoformat()}
                await conn.execute(
                    update(promises)
                    .where(promises.c.id == pid)
                    .values(next_check_at=until, plan_errors=promises.c.plan_errors + 1,
                            plan_error=state)
                )  # fmt: skip
            await conn.execute(
                promise_events.insert(),
                [{"promise_id": pid, "type": PromiseEventType.PLAN_ERROR.value, "at": now,
                  "source": Source.DAEMON.value, "deadline_version": version,
                  "data": {"rule": None, "reason": reason, "next_check_at": until.isoformat()}}
                 for pid, version, reason in unreadable],
            )  # fmt: skip
        for pid, _, reason in unreadable:
            log.warning("scan.unreadable_row", promise_id=pid, error=reason)

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


async def _due(
    conn: AsyncConnection, rows: Sequence[Row[Any]]
) -> tuple[list[DuePromise], Unreadable]:
    """Return the due promises of ``rows``, each with its customer and what it was sent.

    A row that cannot be read (its promise or its customer) is returned apart, with why.
    """
    if not rows:
        return [], []
    keys = await _sent_keys(conn, [r[0] for r in rows])
    split = len(_PROMISE_NAMES)
    found: dict[str, Customer] = {}
    due, unreadable = [], []
    for r in rows:
        values = tuple(r)
        promise_row = dict(zip(_PROMISE_NAMES, values[:split], strict=True))
        try:
            promise = to_promise(promise_row)
            customer = found.get(promise.customer_id)
            if customer is None:
                customer = to_customer(dict(zip(_CUSTOMER_NAMES, values[split:], strict=True)))
                found[promise.customer_id] = customer
        except Exception as exc:  # one bad row must not stop the scan for everyone
            version = promise_row.get("deadline_version")
            reason = f"the row cannot be read: {type(exc).__name__}: {exc}".splitlines()[0]
            unreadable.append((int(r[0]), version if isinstance(version, int) else 0, reason))
            continue
        due.append(DuePromise(promise, customer, keys.get(promise.id, SentLedger())))
    return due, unreadable


async def _sent_keys(conn: AsyncConnection, promise_ids: list[int]) -> dict[int, SentLedger]:
    rows = await conn.execute(
        select(
            notifications.c.promise_id,
            notifications.c.dedupe_key,
            notifications.c.status,
            notifications.c.error_code,
        ).where(among(conn, notifications.c.promise_id, promise_ids))
    )
    keys: dict[int, set[str]] = {}
    went_out: dict[int, set[str]] = {}
    for pid, key, status, code in rows:
        keys.setdefault(pid, set()).add(key)
        # A notice an open incident held back was said by the incident's own messages.
        if status in WENT_OUT or code == MUTED_BY_INCIDENT:
            went_out.setdefault(pid, set()).add(key)
    return {
        pid: SentLedger(frozenset(k), frozenset(went_out.get(pid, ()))) for pid, k in keys.items()
    }


# What a rule's ``when.told`` counts: claimed for a send or past it, whatever the carrier
# said later; not pending (it may yet be moot), cancelled, suppressed or failed.
WENT_OUT = frozenset(
    s.value
    for s in (
        NotificationStatus.SENDING, NotificationStatus.SENT, NotificationStatus.DELIVERED,
        NotificationStatus.UNDELIVERED, NotificationStatus.UNKNOWN,
    )
)  # fmt: skip

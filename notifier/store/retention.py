"""The purge under NOTIFIER_RETENTION: old bodies and history out, dedupe identities kept.

What can bring a notice back is an identity: a notification's ``dedupe_key`` (the scan
inserts against it, and its status is what a rule's ``when.told`` counts) and a
promise's ``external_ref`` (a re-post of an old one would create a new promise, new
keys, and a late apology for a date long past). So:

- A settled promise (kept or cancelled) with no check pending, unchanged since the
  cutoff and with nothing in flight, is deleted with its notifications and all their
  history; its ref goes into ``purged_promises``, and the ledger refuses that ref after.
  Its keys need no tombstone: they are one promise's, and with its ref refused no
  promise can be that one again (a new promise SQLite gives the same, highest, id is
  another promise, owed its own notices).
- Any other notification in a final state, unchanged since the cutoff, is its own
  tombstone: the row stays with its key, promise, rule, step and status, while body,
  subject, address, payload, error, provider id and history go, and ``purged_at`` marks
  it. A table of bare keys would do as much for the scan's insert, but the scan's
  ``SentLedger`` reads the statuses too, and both dialects' scan writes would need a
  second uniqueness check; the emptied row keeps both as they are.
- An ops notice (no promise, no incident) is deleted: it is planned from an event
  (a webhook, whose receipt dedupes replays; a channel found down), never re-planned.
- Promise history older than the cutoff is deleted, and touchpoints' texts erased, the
  copies of them crisis replies keep too once a digest took them (counted as touchpoints).

Nothing in flight (pending, sending) is touched. Each batch is one short transaction of
about ``batch`` rows (a tenth as many promises, each with its rows; a quarter as many
notifications, each with its history), and a run stops after ``max_batches``: the scan and
the dispatch write between batches. A run cut short (the budget, a crash) has finished
whole batches only; the next run takes up the rest. Purging only ever erases: nothing
``forget`` removed is written back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Delete, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import NotificationStatus, PromiseStatus
from notifier.domain.published import PurgeFigures
from notifier.store.base import StoreBase, among
from notifier.store.convert import (
    incident_replies,
    interactions,
    notification_events,
    notifications,
    promise_events,
    promises,
)
from notifier.store.dialects import dialect_of
from notifier.store.tables import PurgedPromiseRow

purged_promises = cast(Table, PurgedPromiseRow.__table__)  # type: ignore[attr-defined]

_IN_FLIGHT = (NotificationStatus.PENDING.value, NotificationStatus.SENDING.value)
_FINAL = tuple(s.value for s in NotificationStatus if s.value not in _IN_FLIGHT)
_SETTLED = (PromiseStatus.KEPT.value, PromiseStatus.CANCELLED.value)
# What a tombstone keeps no more of: the words, the address, the provider's handle.
_EMPTIED: dict[str, object] = {
    "address": None, "subject": None, "body": None, "payload": {}, "error": None,
    "provider_id": None,
}  # fmt: skip

# One batch: (conn, before, now, limit) -> what it did and how many rows it took (fewer
# than the limit: this kind is done). Each takes the oldest rows first from an index that
# holds its candidates only (migration 0007), so none walks the rows already done.
Step = Callable[[AsyncConnection, datetime, datetime, int], Awaitable[tuple[PurgeFigures, int]]]


class RetentionQueries(StoreBase):
    async def purge(
        self, before: datetime, now: datetime, *, batch: int = 1000, max_batches: int = 20
    ) -> PurgeFigures:
        """Purge what is older than ``before``, about ``batch`` rows a transaction.

        At most ``max_batches`` transactions; ``complete`` says whether all was done.
        """
        total = PurgeFigures()
        for step, rows_each in _STEPS:
            limit = max(1, batch // rows_each)
            while True:
                if total.batches >= max_batches:
                    return total + PurgeFigures(complete=False)
                async with self.transaction() as conn:
                    done, found = await step(conn, before, now, limit)
                total += done + PurgeFigures(batches=1)
                await asyncio.sleep(0)  # the daemon's other jobs run between batches
                if found < limit:
                    break
        return total

    async def purged_refs(self, refs: Sequence[str]) -> set[str]:
        """Return which of ``refs`` belonged to promises purged under the retention."""
        async with self.reading() as conn:
            return await purged_among(conn, refs)


async def purged_among(conn: AsyncConnection, refs: Sequence[str]) -> set[str]:
    """Return which of ``refs`` are in ``purged_promises``, on ``conn``."""
    if not refs:
        return set()
    query = select(purged_promises.c.external_ref).where(
        among(conn, purged_promises.c.external_ref, set(refs))
    )
    return {r[0] for r in await conn.execute(query)}


async def _settled_promises(
    conn: AsyncConnection, before: datetime, now: datetime, limit: int
) -> tuple[PurgeFigures, int]:
    busy = (
        select(notifications.c.id)
        .where(notifications.c.promise_id == promises.c.id,
               notifications.c.status.in_(_IN_FLIGHT))
        .exists()
    )  # fmt: skip
    query = (
        select(promises.c.id, promises.c.external_ref)
        .where(
            promises.c.next_check_at.is_(None),
            promises.c.status.in_(_SETTLED),
            promises.c.status_changed_at < before,
            promises.c.updated_at < before,
            ~busy,
        )
        .order_by(promises.c.status_changed_at)
        .limit(limit)
    )
    # Rows an edit holds are left to the next run rather than waited for.
    rows = (await conn.execute(dialect_of(conn).skip_locked(query))).all()
    if not rows:
        return PurgeFigures(), 0
    ids = [int(r[0]) for r in rows]
    theirs = select(notifications.c.id).where(among(conn, notifications.c.promise_id, ids))
    n_events = await _count(conn, delete(notification_events).where(
        notification_events.c.notification_id.in_(theirs)))  # fmt: skip
    n_notifications = await _count(
        conn, delete(notifications).where(among(conn, notifications.c.promise_id, ids))
    )
    n_history = await _count(
        conn, delete(promise_events).where(among(conn, promise_events.c.promise_id, ids))
    )
    await conn.execute(delete(promises).where(among(conn, promises.c.id, ids)))
    await conn.execute(
        dialect_of(conn).insert(purged_promises).on_conflict_do_nothing(),
        [{"external_ref": r[1], "purged_at": now} for r in rows],
    )
    return PurgeFigures(len(ids), n_notifications, 0, n_events, n_history), len(ids)


async def _old_notifications(
    conn: AsyncConnection, before: datetime, now: datetime, limit: int
) -> tuple[PurgeFigures, int]:
    query = (
        select(notifications.c.id, notifications.c.promise_id, notifications.c.incident_id)
        .where(
            notifications.c.purged_at.is_(None),
            notifications.c.updated_at < before,
            notifications.c.status.in_(_FINAL),
        )
        .order_by(notifications.c.updated_at)
        .limit(limit)
    )
    rows = (await conn.execute(dialect_of(conn).skip_locked(query))).all()
    if not rows:
        return PurgeFigures(), 0
    ids = [int(r[0]) for r in rows]
    ops = [int(r[0]) for r in rows if r[1] is None and r[2] is None]
    kept = [int(r[0]) for r in rows if r[1] is not None or r[2] is not None]
    history = among(conn, notification_events.c.notification_id, ids)
    n_events = await _count(conn, delete(notification_events).where(history))
    if ops:
        await conn.execute(delete(notifications).where(among(conn, notifications.c.id, ops)))
    if kept:
        await conn.execute(
            update(notifications)
            .where(among(conn, notifications.c.id, kept))
            .values(**_EMPTIED, purged_at=now)
        )
    return PurgeFigures(0, len(ops), len(kept), n_events), len(ids)


async def _promise_history(
    conn: AsyncConnection, before: datetime, now: datetime, limit: int
) -> tuple[PurgeFigures, int]:
    query = (
        select(promise_events.c.id)
        .where(promise_events.c.at < before)
        .order_by(promise_events.c.at)
        .limit(limit)
    )
    ids = [int(r[0]) for r in await conn.execute(query)]
    if not ids:
        return PurgeFigures(), 0
    await conn.execute(delete(promise_events).where(among(conn, promise_events.c.id, ids)))
    return PurgeFigures(promise_events=len(ids)), len(ids)


async def _touchpoint_texts(
    conn: AsyncConnection, before: datetime, now: datetime, limit: int
) -> tuple[PurgeFigures, int]:
    query = (
        select(interactions.c.id)
        .where(interactions.c.body.is_not(None), interactions.c.at < before)
        .order_by(interactions.c.at)
        .limit(limit)
    )
    ids = [int(r[0]) for r in await conn.execute(query)]
    if not ids:
        return PurgeFigures(), 0
    await conn.execute(
        update(interactions).where(among(conn, interactions.c.id, ids)).values(body=None)
    )
    return PurgeFigures(interactions=len(ids)), len(ids)


async def _reply_texts(
    conn: AsyncConnection, before: datetime, now: datetime, limit: int
) -> tuple[PurgeFigures, int]:
    r = incident_replies.c
    query = (
        select(r.id)
        .where(r.body.is_not(None), r.at < before, r.digest.is_not(None))
        .order_by(r.at)
        .limit(limit)
    )
    ids = [int(row[0]) for row in await conn.execute(query)]
    if not ids:
        return PurgeFigures(), 0
    await conn.execute(
        update(incident_replies).where(among(conn, r.id, ids)).values(body=None, sender="")
    )
    return PurgeFigures(interactions=len(ids)), len(ids)


async def _count(conn: AsyncConnection, statement: Delete) -> int:
    return int((await conn.execute(statement)).rowcount or 0)


# Settled promises first: their notifications go with them rather than being emptied.
# Each with the rows one of its items takes along: a promise goes with its notifications,
# their history and its own (about ten rows), so a batch holds about ``batch`` rows.
_STEPS: tuple[tuple[Step, int], ...] = (
    (_settled_promises, 10), (_old_notifications, 4), (_promise_history, 1),
    (_touchpoint_texts, 1), (_reply_texts, 1),
)  # fmt: skip

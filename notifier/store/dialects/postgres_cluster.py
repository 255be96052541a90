"""Replicas on one PostgreSQL: who scans this tick, whose customers a claim may take.

Both use advisory locks, which need no table and no migration, and vanish with the
session that holds them: a replica killed with ``kill -9`` holds nothing a moment later.

- **The scan** runs under one session lock (``pg_try_advisory_lock``), tried, never
  waited for: a replica whose tick finds the lock taken skips that tick, another one is
  planning every due promise. Claiming the due promises with ``FOR UPDATE SKIP LOCKED``
  instead would split a customer's promises between replicas (consolidation looks at a
  customer's upcoming checks as a whole), and would hold row locks for the whole
  streamed read while the batch writes, on other connections, update those same rows:
  each write would wait for the read to end. The lock is taken before the read starts,
  after the previous holder's last write committed, so a replica's snapshot always
  sees what the one before it wrote, and no promise is planned twice in a tick.
- **A claim** takes each customer under a transaction lock
  (``pg_try_advisory_xact_lock`` on the customer's id hashed), tried, never waited
  for, so two claims cannot deadlock; a customer whose lock another claim holds is left
  to that claim, and the claim looks further down the due rows instead. A customer with
  rows ``sending`` under another replica's live lease is left too: that replica is
  deciding or sending for them, and the frequency cap and consolidation need one
  replica per customer at a time. The customers' rows are then claimed with ``SKIP
  LOCKED`` (nothing waits) by a later statement, whose snapshot sees the commit of
  whichever claim held the customer before. Two customers whose ids hash alike only
  wait for each other's claim.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.models import NotificationStatus

# The lock space's first key: "noti" in ASCII; the second names what is locked.
LOCK_CLASS = 0x6E6F7469
SCAN_LOCK = 1
CUSTOMER_CLASS = LOCK_CLASS + 1
# How far down the due rows a claim looks for customers no other claim holds, in limits.
CLAIM_WINDOW = 4

_TRY_SCAN = text("SELECT pg_try_advisory_lock(:cls, :key)")
_UNLOCK_SCAN = text("SELECT pg_advisory_unlock(:cls, :key)")
_BUSY_ELSEWHERE = text("""
SELECT DISTINCT customer_id FROM notifications
WHERE customer_id = ANY(CAST(:ids AS TEXT[])) AND status = :sending
  AND lease_owner IS DISTINCT FROM :owner AND lease_until >= :now
""")


@asynccontextmanager
async def scan_turn(engine: AsyncEngine) -> AsyncIterator[bool]:
    """Yield True when this process holds the scan lock, False when another one does."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        keys = {"cls": LOCK_CLASS, "key": SCAN_LOCK}
        mine = bool(await conn.scalar(_TRY_SCAN, keys))
        try:
            yield mine
        except BaseException:
            if mine:  # the session may be mid-statement: close it, its lock goes with it
                await conn.invalidate()
            raise
        if mine:
            try:
                await conn.execute(_UNLOCK_SCAN, keys)
            except BaseException:
                await conn.invalidate()
                raise


async def claim_customers(
    conn: AsyncConnection, due: Select[Any], limit: int, owner: str, now: datetime
) -> tuple[list[int], set[str]]:
    """Pick up to ``limit`` of ``due``'s rows whose customer this claim can lock.

    ``due`` selects (id, customer_id) in claim order. A customer another claim holds is
    passed over, so replicas claiming at once take different customers: the lock is tried
    row by row in that order, over a window a few times ``limit`` wide. Return the rows
    without a customer and the customers taken, locked until ``conn``'s transaction ends.

    When some customers turn out busy elsewhere, the pick is made once more past them,
    on a fresh snapshot: their rows would otherwise take this claim's places, and rows
    a claim committed during the first pick are no longer seen as due.
    """
    lone, got, busy = await _pick(conn, due, limit, owner, now)
    if busy:
        again = due.where(or_(due.selected_columns.customer_id.is_(None),
                              due.selected_columns.customer_id.not_in(sorted(busy))))  # fmt: skip
        lone, got, busy = await _pick(conn, again, limit, owner, now)
    return lone, got - busy


async def _pick(
    conn: AsyncConnection, due: Select[Any], limit: int, owner: str, now: datetime
) -> tuple[list[int], set[str], set[str]]:
    """The lone rows, the customers locked, and those of them busy elsewhere."""
    window = due.limit(limit * CLAIM_WINDOW).subquery("window")
    lock = func.pg_try_advisory_xact_lock(CUSTOMER_CLASS, func.hashtext(window.c.customer_id))
    query = select(window.c.id, window.c.customer_id).where(
        or_(window.c.customer_id.is_(None), lock)
    )
    rows = (await conn.execute(query.limit(limit))).all()
    lone = [int(r[0]) for r in rows if r[1] is None]
    got = {str(r[1]) for r in rows if r[1] is not None}
    if not got:
        return lone, got, set()
    # A statement of its own, after the locks: its snapshot sees the last claim's commit.
    busy = await conn.execute(
        _BUSY_ELSEWHERE,
        {"ids": sorted(got), "sending": NotificationStatus.SENDING.value, "owner": owner,
         "now": now},
    )  # fmt: skip
    return lone, got, {r[0] for r in busy}

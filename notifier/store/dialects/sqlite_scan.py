"""The scan's write on SQLite: Core statements in one transaction a batch.

New outbox rows (once per dedupe key, with the held ones' history) and each promise's new
state. PostgreSQL writes the same in one statement (``postgres_scan.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import (
    NotificationStatus,
    PromiseEventType,
    PromiseStatus,
    Source,
)
from notifier.domain.outbox import PromiseChange, Scheduled, outbox_payload
from notifier.store.convert import (
    notification_events,
    notifications,
    plan_error_data,
    plan_error_json,
    promise_events,
    promises,
)


async def write_batch(
    conn: AsyncConnection,
    changes: Sequence[PromiseChange],
    scheduled: Sequence[Scheduled],
    now: datetime,
) -> int:
    """Write one scan batch on ``conn``, inside the caller's transaction; return the rows in.

    A promise changed since it was read (kept through the API meanwhile) fails the
    updated_at check and stays as the API left it; the next scan looks at it again.
    """
    inserted = await _insert_notifications(conn, scheduled, now)
    await _update_promises(conn, changes, now)
    return inserted


async def _insert_notifications(
    conn: AsyncConnection, scheduled: Sequence[Scheduled], now: datetime
) -> int:
    if not scheduled:
        return 0
    rows = [outbox_row(s, now) for s in scheduled]
    result = await conn.execute(
        sqlite_insert(notifications)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(notifications.c.id, notifications.c.dedupe_key),
        rows,
    )
    ids = {key: nid for nid, key in result.all()}
    events = [
        {"notification_id": ids[s.notice.dedupe_key], "at": now, "type": "held",
         "channel": None, "reason": s.held, "detail": {"until": s.not_before.isoformat()}}
        for s in scheduled
        if s.held and s.notice.dedupe_key in ids  # scheduled before: the unique key holds it
    ]  # fmt: skip
    if events:
        await conn.execute(notification_events.insert(), events)
    return len(ids)


def outbox_row(s: Scheduled, now: datetime) -> dict[str, Any]:
    """Return the new outbox row of ``s``, every column given (Core inserts on any dialect)."""
    n = s.notice
    return {
        "dedupe_key": n.dedupe_key,
        "customer_id": n.customer_id,
        "promise_id": n.promise_id,
        "incident_id": n.incident_id,
        "rule_id": n.rule_id,
        "message": n.message,
        "stage": n.stage,
        "step": n.step,
        "priority": n.priority,
        "channel_choice": n.channel,
        "fallback": list(n.fallback),
        "failed_channels": [],
        "channel": None,
        "address": None,
        "status": NotificationStatus.PENDING.value,
        "not_before": s.not_before,
        "attempts": 0,
        "lease_until": None,
        "lease_owner": None,
        "provider_id": None,
        "error_code": None,
        "error": None,
        "subject": None,
        "body": None,
        "payload": outbox_payload(n),
        "created_at": now,
        "updated_at": now,
        "attempted_at": None,
        "sent_at": None,
        "delivered_at": None,
    }


async def _update_promises(
    conn: AsyncConnection, changes: Sequence[PromiseChange], now: datetime
) -> None:
    # A row changed since it was read (kept through the API meanwhile) fails the
    # updated_at check and stays as the API left it; the next scan looks at it again.
    unchanged = and_(promises.c.id == bindparam("pid"), promises.c.updated_at == bindparam("seen"))
    checked = {
        "next_check_at": bindparam("next"),
        "plan_errors": bindparam("errors"),
        "plan_error": bindparam("error", type_=promises.c.plan_error.type),
    }
    plain = [c for c in changes if not c.broken]
    if plain:
        await conn.execute(update(promises).where(unchanged).values(checked), _params(plain))
    await _plan_error_events(conn, [c for c in plain if c.report], now)
    broken = [c for c in changes if c.broken]
    if not broken:
        return
    await conn.execute(
        update(promises)
        .where(unchanged)
        .values(
            status=PromiseStatus.BROKEN.value,
            status_changed_at=now,
            times_broken=promises.c.times_broken + 1,
            updated_at=now,
            **checked,
        ),
        _params(broken),
    )
    # An executemany gives no per-row count: the rows this transaction broke are the ones
    # now stamped with this scan's instant.
    changed = {
        r[0]
        for r in await conn.execute(
            select(promises.c.id).where(
                promises.c.id.in_([c.promise.id for c in broken]),
                promises.c.status == PromiseStatus.BROKEN.value,
                promises.c.status_changed_at == now,
                promises.c.updated_at == now,
            )
        )
    }
    events = [
        {"promise_id": c.promise.id, "type": PromiseEventType.BROKEN.value, "at": now,
         "source": Source.DAEMON.value, "deadline_version": c.promise.deadline_version,
         "data": {"due_at": c.promise.due_at.isoformat()}}
        for c in broken
        if c.promise.id in changed
    ]  # fmt: skip
    if events:
        await conn.execute(promise_events.insert(), events)


async def _plan_error_events(
    conn: AsyncConnection, reported: Sequence[PromiseChange], now: datetime
) -> None:
    """Record a ``plan_error`` event for each reported change whose write landed."""
    if not reported:
        return
    # The write leaves updated_at alone: a row still as it was read took this scan's write.
    landed = {
        (r[0], r[1])
        for r in await conn.execute(
            select(promises.c.id, promises.c.updated_at).where(
                promises.c.id.in_([c.promise.id for c in reported])
            )
        )
    }
    events = [
        {"promise_id": c.promise.id, "type": PromiseEventType.PLAN_ERROR.value, "at": now,
         "source": Source.DAEMON.value, "deadline_version": c.promise.deadline_version,
         "data": plan_error_data(c)}
        for c in reported
        if (c.promise.id, c.promise.updated_at) in landed
    ]  # fmt: skip
    if events:
        await conn.execute(promise_events.insert(), events)


def _params(changes: Sequence[PromiseChange]) -> list[dict[str, Any]]:
    return [
        {"pid": c.promise.id, "seen": c.promise.updated_at, "next": c.next_check_at,
         "errors": c.error.count if c.error else 0, "error": plan_error_json(c.error)}
        for c in changes
    ]  # fmt: skip

"""Ops notifications that name customers in their values: a forwarded reply names who wrote.

They have no customer of their own (``customer_id`` NULL), so forgetting a customer
finds them here rather than by their column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import NotificationStatus
from notifier.store.convert import notification_events, notifications

_ERASED = {"audience": "ops"}  # still to ops: only what it said goes


async def erase_ops_mentions(conn: AsyncConnection, customer_id: str, now: datetime) -> int:
    """Erase the texts of the ops notifications that name ``customer_id``; return how many.

    Their values, subject, body and history texts go (the reply quoted the customer, the
    email carried their timeline); one still pending is cancelled, since it has nothing
    left to say.
    """
    rows = await conn.execute(
        select(notifications.c.id, notifications.c.payload).where(
            notifications.c.customer_id.is_(None)
        )
    )
    ids = [nid for nid, payload in rows if customer_id in _named(payload)]
    if not ids:
        return 0
    await conn.execute(
        update(notifications)
        .where(notifications.c.id.in_(ids))
        .values(subject=None, body=None, payload=_ERASED, error=None, updated_at=now)
    )
    await conn.execute(
        update(notification_events)
        .where(notification_events.c.notification_id.in_(ids))
        .values(reason=None, detail={})
    )
    await conn.execute(
        update(notifications)
        .where(
            notifications.c.id.in_(ids),
            notifications.c.status == NotificationStatus.PENDING.value,
        )
        .values(status=NotificationStatus.CANCELLED.value, error="customer forgotten")
    )
    return len(ids)


def _named(payload: Any) -> set[str]:
    data = payload.get("data") if isinstance(payload, dict) else None
    found = data.get("customers") if isinstance(data, dict) else None
    if not isinstance(found, list):
        return set()
    return {str(c["id"]) for c in found if isinstance(c, dict) and "id" in c}

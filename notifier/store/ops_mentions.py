"""Ops notifications that name customers in their values: a forwarded reply names who wrote,
a crisis digest each customer whose reply it lists.

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
    left to say. A crisis digest still pending loses this customer's replies only: the
    others still reach ops.
    """
    rows = await conn.execute(
        select(notifications.c.id, notifications.c.payload, notifications.c.status).where(
            notifications.c.customer_id.is_(None)
        )
    )
    ids: list[int] = []
    trimmed: dict[int, dict[str, Any]] = {}
    for nid, payload, status in rows:
        if customer_id not in _named(payload):
            continue
        left = (
            _without(payload, customer_id) if status == NotificationStatus.PENDING.value else None
        )
        if left is not None:
            trimmed[nid] = left
        else:
            ids.append(nid)
    for nid, payload in trimmed.items():
        await conn.execute(
            update(notifications).where(notifications.c.id == nid)
            .values(payload=payload, updated_at=now)
        )  # fmt: skip
    if not ids:
        return len(trimmed)
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
    return len(ids) + len(trimmed)


def _named(payload: Any) -> set[str]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return set()
    found = data.get("customers")
    listed = found if isinstance(found, list) else []
    named = {str(c["id"]) for c in listed if isinstance(c, dict) and "id" in c}
    return named | {str(r["customer"]) for r in _replies(data) if "customer" in r}


def _replies(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = data.get("replies")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _without(payload: dict[str, Any], customer_id: str) -> dict[str, Any] | None:
    """A digest's payload without ``customer_id``'s replies; None when none would be left
    (or it is no digest)."""
    data = payload["data"]
    replies = _replies(data)
    kept = [r for r in replies if str(r.get("customer")) != customer_id]
    count = data.get("count")
    if not replies or not isinstance(count, int):
        return None
    left = count - (len(replies) - len(kept))
    if left <= 0:
        return None
    return {**payload, "data": {**data, "replies": kept, "count": left}}

"""Rows as an older version or a hand-made INSERT leaves them: straight into the tables.

The API, the CLI and the import refuse these values; the scan and the dispatcher must
still cope with whatever is already in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from notifier.domain.models import NotificationStatus, PromiseStatus
from notifier.store.convert import customers, notifications, promise_events, promises
from notifier.store.store import Store


async def insert_customer(store: Store, cid: str, now: datetime, **values: Any) -> None:
    """Insert a customer row as given, validating nothing."""
    row: dict[str, Any] = {
        "id": cid, "name": "Bea Poison", "locale": "es-AR",
        "timezone": "America/Argentina/Buenos_Aires", "phone": "+5491155550199",
        "email": f"{cid}@example.com", "whatsapp": None, "x_user_id": None,
        "preferred_channel": None, "opted_out": [], "undeliverable": {},
        "last_used_channel": "sms", "last_inbound_at": None, "last_whatsapp_inbound_at": None,
        "forgotten_at": None, "created_at": now, "updated_at": now,
    }  # fmt: skip
    row.update(values)
    async with store.transaction() as conn:
        await conn.execute(customers.insert(), [row])


async def insert_promise(
    store: Store, cid: str, ref: str, due_at: datetime, now: datetime, **values: Any
) -> int:
    """Insert a promise row as given, due for a check now; return its id."""
    row: dict[str, Any] = {
        "customer_id": cid, "kind": "delivery", "status": PromiseStatus.OPEN.value,
        "due_at": due_at, "window_start": None, "estimate_at": None,
        "attributes": {"order_id": ref, "carrier": "oca"}, "external_ref": ref,
        "deadline_version": 1, "times_broken": 0, "next_check_at": now,
        "status_changed_at": now, "created_at": now, "updated_at": now,
    }  # fmt: skip
    row.update(values)
    async with store.transaction() as conn:
        result = await conn.execute(promises.insert().returning(promises.c.id), [row])
        return int(result.scalar_one())


async def promise_row(store: Store, pid: int) -> dict[str, Any]:
    async with store.reading() as conn:
        row = (await conn.execute(select(promises).where(promises.c.id == pid))).mappings().one()
        return dict(row)


async def events_of(store: Store, pid: int, type_: str) -> list[dict[str, Any]]:
    async with store.reading() as conn:
        rows = await conn.execute(
            select(promise_events)
            .where(promise_events.c.promise_id == pid, promise_events.c.type == type_)
            .order_by(promise_events.c.id)
        )
        return [dict(r) for r in rows.mappings()]


async def notification_rows(store: Store, cid: str | None = None) -> list[dict[str, Any]]:
    query = select(notifications).order_by(notifications.c.id)
    if cid is not None:
        query = query.where(notifications.c.customer_id == cid)
    async with store.reading() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def sending(store: Store) -> list[int]:
    """Return the ids of the rows left ``sending``."""
    async with store.reading() as conn:
        rows = await conn.execute(
            select(notifications.c.id).where(
                notifications.c.status == NotificationStatus.SENDING.value
            )
        )
        return [r[0] for r in rows]

"""Reads for ops: notifications page by page, and the pending outbox a simulation starts from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from notifier.domain.forecast import Pending
from notifier.domain.models import NotificationStatus
from notifier.domain.outbox import Notification
from notifier.store.base import StoreBase
from notifier.store.claims import to_notification
from notifier.store.convert import notifications


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A notification with what the dispatcher's view leaves out: its outcome and times."""

    notification: Notification
    error_code: str | None
    error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime


def to_record(row: Any) -> NotificationRecord:
    """Return the record of a ``notifications`` row."""
    return NotificationRecord(
        to_notification(row),
        row["error_code"],
        row["error"],
        row["sent_at"],
        row["delivered_at"],
        row["updated_at"],
    )


class ListingQueries(StoreBase):
    async def list_notifications(
        self,
        *,
        customer_id: str | None = None,
        status: NotificationStatus | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[NotificationRecord]:
        """Return notifications newest first, filtered; page with ``before_id``."""
        query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(notifications.c.customer_id == customer_id)
        if status is not None:
            query = query.where(notifications.c.status == status.value)
        if before_id is not None:
            query = query.where(notifications.c.id < before_id)
        async with self.reading() as conn:
            return [to_record(r) for r in (await conn.execute(query)).mappings()]

    async def notification_record(self, notification_id: int) -> NotificationRecord | None:
        """Return one notification's record, or None when unknown."""
        async with self.reading() as conn:
            row = (
                (
                    await conn.execute(
                        select(notifications).where(notifications.c.id == notification_id)
                    )
                )
                .mappings()
                .first()
            )
        return to_record(row) if row is not None else None

    async def pending_notifications(self, limit: int) -> list[Pending]:
        """Return up to ``limit`` pending rows in claim order, each with why it was scheduled."""
        query = (
            select(notifications)
            .where(notifications.c.status == NotificationStatus.PENDING.value)
            .order_by(notifications.c.not_before, notifications.c.id)
            .limit(limit)
        )
        async with self.reading() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Pending(to_notification(r), _scheduled_reason(r["payload"])) for r in rows]


def _scheduled_reason(payload: Mapping[str, Any] | None) -> str | None:
    reason = (payload or {}).get("reason")
    return reason if isinstance(reason, str) else None

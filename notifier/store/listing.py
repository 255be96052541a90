"""Reads for ops: notifications page by page, and the pending outbox a simulation starts from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from notifier.domain.forecast import Pending
from notifier.domain.models import NotificationStatus
from notifier.domain.reports import (
    HistoryEntry,
    NotificationDetail,
    NotificationRecord,
    scheduled_entry,
)
from notifier.store.base import StoreBase
from notifier.store.claims import to_notification
from notifier.store.convert import notification_events, notifications
from notifier.store.report_rows import to_history_entry, to_record


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

    async def notification(self, notification_id: int) -> NotificationDetail | None:
        """Return the notification and its history, oldest first; None when unknown."""
        async with self.reading() as conn:
            query = select(notifications).where(notifications.c.id == notification_id)
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            events = (
                await conn.execute(
                    select(notification_events)
                    .where(notification_events.c.notification_id == notification_id)
                    .order_by(notification_events.c.at, notification_events.c.id)
                )
            ).mappings()
            history: list[HistoryEntry] = [to_history_entry(e) for e in events]
        if not any(e.type == "scheduled" for e in history):  # older rows wrote it out
            payload = row["payload"] or {}
            history.insert(
                0, scheduled_entry(row["created_at"], row["rule_id"], row["stage"], payload)
            )
        return NotificationDetail(to_record(row), history)

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

"""The reading and ops side: the status report, notifications, pause and resume.

The CLI and the API call this rather than the store; each call reads the clock once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notifier.clock import Clock
from notifier.domain.errors import NotFoundError
from notifier.domain.models import NotificationStatus
from notifier.domain.reports import NotificationDetail, NotificationRecord, Pause, StatusReport
from notifier.engine.reporting.ports import ReportingStore


@dataclass(frozen=True, slots=True)
class Resumed:
    """The pauses in force after a resume, and the targets that were not paused."""

    pauses: Sequence[Pause]
    not_paused: Sequence[tuple[str, str]]  # (kind, target)


class Reporting:
    """Status, notifications and the kill switch over a store."""

    def __init__(self, store: ReportingStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def status(self) -> StatusReport:
        """Return what ``notifier status`` judges from, read now."""
        now = self.clock.now()
        store = self.store
        queue = await store.queue_stats()
        backlog = await store.sending_backlog(now)
        published = await store.published()
        pauses = await store.pauses(now)
        errors = await store.last_errors()
        plan_error_count, plan_errors = await store.plan_errors()
        render_errors = await store.render_errors()
        events = await store.event_backlog()
        return StatusReport(now, queue, backlog, published, pauses, errors, plan_error_count,
                            plan_errors, render_errors, events)  # fmt: skip

    async def notification(self, notification_id: int) -> NotificationDetail:
        """Return the notification and its history; NotFoundError when unknown."""
        found = await self.store.notification(notification_id)
        if found is None:
            raise NotFoundError(f"notification {notification_id} not found")
        return found

    async def notifications(
        self,
        *,
        customer_id: str | None = None,
        status: NotificationStatus | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[NotificationRecord]:
        """Return notifications newest first, filtered; page with ``before_id``."""
        return await self.store.list_notifications(
            customer_id=customer_id, status=status, limit=limit, before_id=before_id
        )

    async def pause(
        self, channels: Sequence[str], rules: Sequence[str], reason: str
    ) -> list[Pause]:
        """Hold every notification on ``channels`` and from ``rules``; return the pauses now."""
        now = self.clock.now()
        for name in channels:
            await self.store.pause("channel", name, reason, now)
        for name in rules:
            await self.store.pause("rule", name, reason, now)
        return await self.store.pauses(now)

    async def requeue_events(self) -> int:
        """Put the events the CRM refused back in line; return how many."""
        return await self.store.requeue_parked(self.clock.now())

    async def resume(self, targets: Sequence[tuple[str, str | None]]) -> Resumed:
        """Lift each ``(kind, target)`` pause (target None: every one of that kind)."""
        now = self.clock.now()
        missed: list[tuple[str, str]] = []
        for kind, target in targets:
            if not await self.store.resume(kind, target, now) and target is not None:
                missed.append((kind, target))
        return Resumed(await self.store.pauses(now), missed)

"""The store methods the reporting side needs, and nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notifier.domain.crm_events import EventBacklog
from notifier.domain.health import Backlog
from notifier.domain.models import NotificationStatus
from notifier.domain.published import PublishedState
from notifier.domain.reports import (
    ErrorLine,
    NotificationDetail,
    NotificationRecord,
    Pause,
    PlanErrorLine,
    QueueStats,
    RenderErrorLine,
)


class StatusReader(Protocol):
    """What ``notifier status`` reads."""

    async def queue_stats(self) -> QueueStats: ...

    async def sending_backlog(self, now: datetime) -> Backlog: ...

    async def published(self) -> PublishedState: ...

    async def pauses(self, now: datetime) -> list[Pause]: ...

    async def last_errors(self, limit: int = 5) -> list[ErrorLine]: ...

    async def plan_errors(self, limit: int = 20) -> tuple[int, list[PlanErrorLine]]: ...

    async def render_errors(self, limit: int = 5) -> list[RenderErrorLine]: ...

    async def event_backlog(self) -> EventBacklog: ...


class NotificationReader(Protocol):
    """Notifications page by page, and one with its history."""

    async def list_notifications(
        self,
        *,
        customer_id: str | None = None,
        status: NotificationStatus | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[NotificationRecord]: ...

    async def notification(self, notification_id: int) -> NotificationDetail | None: ...


class PauseWriter(Protocol):
    """The kill switch: record and lift pauses."""

    async def pause(
        self, kind: str, target: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None: ...

    async def resume(self, kind: str, target: str | None, now: datetime) -> int: ...

    async def requeue_parked(self, now: datetime) -> int: ...


class ReportingStore(StatusReader, NotificationReader, PauseWriter, Protocol):
    """Everything the reporting service reads and writes."""

"""What the relay asks of the store and of the receiver."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from notifier.domain.crm_events import EventBacklog, PendingEvent, PostOutcome


class RelayStore(Protocol):
    """The event outbox (``store/event_relay.py``)."""

    async def claim_events(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[PendingEvent]: ...

    async def record_posts(
        self, outcomes: Sequence[PostOutcome], owner: str, now: datetime
    ) -> None: ...

    async def release_events(self, owner: str) -> int: ...

    async def purge_delivered(self, before: datetime, limit: int) -> int: ...

    async def event_backlog(self) -> EventBacklog: ...


class PostResult(Protocol):
    @property
    def status(self) -> int: ...  # 0: no HTTP answer (timeout, connection refused)

    @property
    def error(self) -> str | None: ...

    @property
    def retry_after(self) -> timedelta | None: ...


class Receiver(Protocol):
    """The CRM's webhook (``channels/crm_webhook.py``)."""

    async def post(self, body: str) -> PostResult: ...

    async def aclose(self) -> None: ...

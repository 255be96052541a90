"""What ingest asks of the store: the ledger service's reads and writes, the import's dedupe.

The importer and the demo loader go through the ledger service, so its protocol is theirs
too. The concrete store satisfies it (mypy checks it where the wiring builds the ledger);
the value types come from the domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.ingest import (
    CustomerData,
    ForgetReport,
    InteractionData,
    PromiseData,
    RowError,
    TimelineEntry,
    Upserted,
)
from notifier.domain.models import Customer, Promise, PromiseEventType, PromiseStatus, Source


class TouchpointReader(Protocol):
    """The import asks which touchpoints the ledger holds before adding them.

    A connection, for the one query the store does not answer yet (see
    ``importer.known_touchpoints``); a store method replaces it.
    """

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]: ...


class LedgerStore(TouchpointReader, Protocol):
    """The ledger service (and through it the import and the demo loader)."""

    async def upsert_customers(
        self, items: Sequence[CustomerData], now: datetime, *, default_locale: str, default_tz: str
    ) -> list[Upserted]: ...

    async def get_customer(self, customer_id: str) -> Customer | None: ...

    async def revoke_links(self, customer_id: str, now: datetime) -> None: ...

    async def forget_customer(self, customer_id: str, now: datetime) -> ForgetReport | None: ...

    async def timeline(self, customer_id: str, *, limit: int = 500) -> list[TimelineEntry]: ...

    async def add_interactions(
        self, items: Sequence[InteractionData], now: datetime
    ) -> list[int | RowError]: ...

    async def upsert_promises(
        self, items: Sequence[PromiseData], source: Source, now: datetime
    ) -> list[Upserted | RowError]: ...

    async def get_promise(self, promise_id: int) -> Promise | None: ...

    async def list_promises(
        self,
        *,
        customer_id: str | None = None,
        status: PromiseStatus | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[Promise]: ...

    async def reschedule_promise(
        self,
        promise_id: int,
        due_at: datetime,
        window_start: datetime | None,
        source: Source,
        now: datetime,
    ) -> Promise: ...

    async def settle_promise(
        self, promise_id: int, event: PromiseEventType, source: Source, now: datetime
    ) -> Promise: ...

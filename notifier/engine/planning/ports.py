"""What planning asks of the store: the scan's reads and writes, ``simulate``'s one read.

The concrete store satisfies both protocols (mypy checks it where the wiring hands the
store out); the value types come from the domain.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from notifier.domain.forecast import Pending
from notifier.domain.models import Customer, Promise
from notifier.domain.outbox import DuePromise, PromiseChange, Scheduled
from notifier.domain.reports import Pause


class CheckReader(Protocol):
    """The scan's one read between planning and scheduling (the store implements it)."""

    async def next_checks(
        self, customer_ids: Sequence[str], after: datetime, until: datetime
    ) -> dict[str, list[tuple[int, datetime]]]: ...


class ScanStore(CheckReader, Protocol):
    """The scan: its turn taken, due promises read in batches, each batch's plan written."""

    @property
    def scan_writes_in_flight(self) -> int: ...

    def scan_turn(self) -> AbstractAsyncContextManager[bool]:
        """Enter True when this process plans the due promises now; False: another replica."""
        ...

    def due_batches(
        self, now: datetime, size: int, limit: int
    ) -> AsyncGenerator[list[DuePromise], None]: ...

    async def apply_scan(
        self, changes: Sequence[PromiseChange], scheduled: Sequence[Scheduled], now: datetime
    ) -> int: ...


class ForecastStore(Protocol):
    """``notifier simulate``: the ledger, the outbox and the pauses, read once."""

    async def due_promises(self, now: datetime, limit: int) -> list[DuePromise]: ...

    async def pending_notifications(self, limit: int) -> list[Pending]: ...

    async def pauses(self, now: datetime) -> list[Pause]: ...

    async def get_customers(
        self, ids: Sequence[str], unreadable: dict[str, str] | None = None
    ) -> dict[str, Customer]: ...

    async def get_promises(
        self, ids: Sequence[int], unreadable: dict[int, str] | None = None
    ) -> dict[int, Promise]: ...

    async def sent_since(
        self, customer_ids: Sequence[str], since: datetime
    ) -> dict[str, list[datetime]]: ...

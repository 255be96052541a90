"""The scan's writes: outbox rows and each promise's new state, one transaction a batch.

Each dialect writes a batch its own way (``dialects/sqlite_scan.py``,
``dialects/postgres_scan.py``); the rows and their effect are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from notifier.domain.outbox import PromiseChange, Scheduled
from notifier.store.base import StoreBase


class ScanQueries(StoreBase):
    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int:
        """Put notices in the outbox, once per dedupe key; return how many rows went in.

        The scan's own insert: promise steps, ops notices and incident updates alike.
        """
        return await self.apply_scan((), scheduled, now)

    async def apply_scan(
        self, changes: Sequence[PromiseChange], scheduled: Sequence[Scheduled], now: datetime
    ) -> int:
        """In one transaction: new outbox rows (once per dedupe key) and each promise's new state.

        A promise changed since it was read (kept through the API meanwhile) keeps its own
        ``next_check_at = now`` and is looked at again by the next scan.
        """
        return await self.dialect.write_scan(self.engine, changes, scheduled, now)

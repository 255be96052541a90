"""The ledger service: the one code path behind the API, the CLI and the import."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from notifier.clock import Clock
from notifier.domain.errors import InvalidInputError, NotFoundError
from notifier.domain.ingest import (
    CustomerData,
    ForgetReport,
    InteractionData,
    PromiseData,
    RowError,
    TimelineEntry,
    Upserted,
)
from notifier.domain.models import (
    Customer,
    Promise,
    PromiseEvent,
    PromiseEventType,
    PromiseStatus,
    Source,
)
from notifier.engine.ingest.ports import LedgerStore


@dataclass(frozen=True, slots=True)
class LedgerDefaults:
    locale: str = "es"
    timezone: str = "America/Argentina/Buenos_Aires"


def new_external_ref() -> str:
    """Return a reference for a promise that came without one (it is then not idempotent)."""
    return f"auto-{uuid.uuid4().hex}"


class Ledger:
    """Reads the clock once per call, validates against the store, and writes."""

    def __init__(
        self,
        store: LedgerStore,
        clock: Clock,
        defaults: LedgerDefaults | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.defaults = defaults or LedgerDefaults()
        # Wakes the scan when a promise changed (the daemon sets it).
        self.on_change = on_change or (lambda: None)

    async def put_customers(self, items: Sequence[CustomerData]) -> list[Upserted]:
        """Create or update customers; a new customer without locale or zone gets the defaults."""
        return await self.store.upsert_customers(
            items,
            self.clock.now(),
            default_locale=self.defaults.locale,
            default_tz=self.defaults.timezone,
        )

    async def put_customer(self, item: CustomerData) -> tuple[Customer, bool]:
        """Create or update one customer; return it and whether it was created."""
        (result,) = await self.put_customers([item])
        return await self.customer(item.id), result.created

    async def customer(self, customer_id: str) -> Customer:
        """Return the customer; NotFoundError when unknown."""
        found = await self.store.get_customer(customer_id)
        if found is None:
            raise NotFoundError(f"unknown customer {customer_id!r}")
        return found

    async def revoke_links(self, customer_id: str) -> datetime:
        """Make the customer's unsubscribe links issued until now stop working; return now.

        Links in emails sent from now on work; the secret key stays as it is.
        """
        if await self.store.get_customer(customer_id) is None:
            raise NotFoundError(f"unknown customer {customer_id!r}")
        now = self.clock.now()
        await self.store.revoke_links(customer_id, now)
        return now

    async def forget(self, customer_id: str) -> ForgetReport:
        """Erase the customer's personal data, keeping anonymous counts and dedupe keys."""
        report = await self.store.forget_customer(customer_id, self.clock.now())
        if report is None:
            raise NotFoundError(f"unknown customer {customer_id!r}")
        return report

    async def timeline(self, customer_id: str) -> list[TimelineEntry]:
        """Return the customer's timeline, newest first."""
        await self.customer(customer_id)
        return await self.store.timeline(customer_id)

    async def add_interactions(self, items: Sequence[InteractionData]) -> list[int | RowError]:
        """Record touchpoints; each result is the new id or what was wrong."""
        return await self.store.add_interactions(items, self.clock.now())

    async def add_interaction(self, item: InteractionData) -> int:
        """Record one touchpoint; NotFoundError for an unknown customer."""
        (result,) = await self.add_interactions([item])
        if isinstance(result, RowError):
            raise NotFoundError(result.message)
        return result

    async def put_promises(
        self, items: Sequence[PromiseData], source: Source
    ) -> list[Upserted | RowError]:
        """Create or update promises by external_ref; changes wake the scan."""
        results = await self.store.upsert_promises(items, source, self.clock.now())
        if any(isinstance(r, Upserted) and r.changed for r in results):
            self.on_change()
        return results

    async def put_promise(self, item: PromiseData, source: Source) -> tuple[Promise, bool]:
        """Create or update one promise; return it and whether it was created."""
        (result,) = await self.put_promises([item], source)
        if isinstance(result, RowError):
            if result.field == "customer_id" and result.message.startswith("unknown"):
                raise NotFoundError(result.message)
            raise InvalidInputError(result.field, result.message)
        return await self.promise(int(result.id)), result.created

    async def promise(self, promise_id: int) -> Promise:
        """Return the promise; NotFoundError when unknown."""
        found = await self.store.get_promise(promise_id)
        if found is None:
            raise NotFoundError(f"unknown promise {promise_id}")
        return found

    async def promise_events(self, promise_id: int) -> list[PromiseEvent]:
        """Return the promise's events, oldest first (none for an unknown id)."""
        return await self.store.promise_events(promise_id)

    async def list_promises(
        self,
        *,
        customer_id: str | None = None,
        status: PromiseStatus | None = None,
        limit: int = 100,
        after_id: int | None = None,
    ) -> list[Promise]:
        """Return a page of promises, filtered by customer and status."""
        return await self.store.list_promises(
            customer_id=customer_id, status=status, limit=limit, after_id=after_id
        )

    async def keep(self, promise_id: int, source: Source) -> Promise:
        """Mark the promise kept (a no-op when it already is)."""
        return await self._settle(promise_id, PromiseEventType.KEPT, source)

    async def cancel(self, promise_id: int, source: Source) -> Promise:
        """Mark the promise cancelled (a no-op when it already is)."""
        return await self._settle(promise_id, PromiseEventType.CANCELLED, source)

    async def reschedule(
        self,
        promise_id: int,
        due_at: datetime,
        window_start: datetime | None,
        source: Source,
    ) -> Promise:
        """Move the deadline; a new deadline version for the rules, a break for the reports."""
        if window_start is not None and window_start >= due_at:
            raise InvalidInputError("window_start", "must be before due_at (the end of the window)")
        promise = await self.store.reschedule_promise(
            promise_id, due_at, window_start, source, self.clock.now()
        )
        self.on_change()
        return promise

    async def _settle(self, promise_id: int, event: PromiseEventType, source: Source) -> Promise:
        promise = await self.store.settle_promise(promise_id, event, source, self.clock.now())
        self.on_change()
        return promise

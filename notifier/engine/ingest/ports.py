"""What the ingest services need of the store: each names only the methods it calls.

``notifier.store.Store`` satisfies every one; a test may pass a small fake instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from notifier.domain.ingest import InteractionData, RowError
from notifier.domain.models import ChannelName, Customer
from notifier.domain.outbox import Scheduled
from notifier.domain.outcomes import Outcome
from notifier.store.deliveries import DeliveryOutcome


class Receipts(Protocol):
    """Webhook receipts: the first copy of a provider's request is acted on, not its replays."""

    async def first_receipt(self, key: str, now: datetime) -> bool: ...

    async def drop_receipt(self, key: str) -> None: ...


class Consents(Protocol):
    """A customer's consent to a channel."""

    async def set_consent(
        self, customer_id: str, channel: ChannelName, allowed: bool, now: datetime
    ) -> bool: ...


class InboundStore(Receipts, Consents, Protocol):
    """What delivery reports and inbound texts read and write."""

    async def record_delivery(self, report: Outcome, now: datetime) -> DeliveryOutcome: ...

    async def customers_by_number(self, channel: ChannelName, number: str) -> list[Customer]: ...

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int: ...


class ConsentStore(Consents, Protocol):
    """What an unsubscribe link reads and writes."""

    async def get_customer(self, customer_id: str) -> Customer | None: ...

    async def links_revoked_at(self, customer_id: str) -> datetime | None: ...


class Interactions(Protocol):
    """Where an inbound text is recorded as the customer's touchpoint (the ledger service)."""

    async def add_interactions(self, items: Sequence[InteractionData]) -> list[int | RowError]: ...

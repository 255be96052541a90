"""What ingest asks of the store: each consumer names only the methods it calls.

The ledger service's reads and writes (the importer and the demo loader go through it, so
its protocol is theirs too), the import's dedupe, the inbound and consent services. The
concrete store satisfies every one (mypy checks it where the wiring builds them); a test may
pass a small fake instead. The value types come from the domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from notifier.domain.crisis_replies import CrisisReply, LastMessage
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
    ChannelName,
    Customer,
    Promise,
    PromiseEvent,
    PromiseEventType,
    PromiseStatus,
    Source,
)
from notifier.domain.outbox import Scheduled
from notifier.domain.outcomes import DeliveryOutcome, Outcome


class TouchpointReader(Protocol):
    """The import asks which touchpoints the ledger holds before adding them."""

    async def known_touchpoints(
        self, items: Sequence[InteractionData]
    ) -> set[tuple[str, datetime, str, str]]: ...


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

    async def promise_events(self, promise_id: int) -> list[PromiseEvent]: ...

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

    async def last_messages(self, customer_ids: Sequence[str]) -> list[LastMessage]: ...

    async def record_replies(self, replies: Sequence[CrisisReply]) -> int: ...


class InboundEmailStore(Receipts, Consents, Protocol):
    """What a customer's email reply reads and writes."""

    async def customers_by_email(self, address: str) -> list[Customer]: ...

    async def messages_by_provider_ids(self, provider_ids: Sequence[str]) -> list[LastMessage]: ...

    async def last_messages(self, customer_ids: Sequence[str]) -> list[LastMessage]: ...

    async def record_replies(self, replies: Sequence[CrisisReply]) -> int: ...

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int: ...


class ConsentStore(Consents, Protocol):
    """What an unsubscribe link reads and writes."""

    async def get_customer(self, customer_id: str) -> Customer | None: ...

    async def links_revoked_at(self, customer_id: str) -> datetime | None: ...


class Interactions(Protocol):
    """Where an inbound text is recorded as the customer's touchpoint (the ledger service)."""

    async def add_interactions(self, items: Sequence[InteractionData]) -> list[int | RowError]: ...

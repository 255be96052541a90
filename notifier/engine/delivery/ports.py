"""What each delivery part asks of the store: one protocol per consumer, nothing more.

The concrete store satisfies every one of them (mypy checks it where the wiring hands
the store out); a test, or a cluster-wide implementation later, may satisfy just one.
The value types come from the domain.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol, Self

from notifier.domain.consequences import CustomerEffect
from notifier.domain.crisis import CrisisView
from notifier.domain.incidents import Incident
from notifier.domain.ingest import TimelineEntry
from notifier.domain.models import ChannelName, Customer, Promise
from notifier.domain.outbox import Change, Notification, Scheduled
from notifier.domain.pacing import Departure, Reservation
from notifier.domain.reports import Pause


class ChangeWriter(Protocol):
    """Writes decisions and outcomes (the fault path: a batch, one row, a release)."""

    async def apply_changes(self, changes: Sequence[Change], now: datetime) -> Collection[int]:
        """Write ``changes``; return the ids written (a fenced store's lost rows are not)."""
        ...


class PauseStore(Protocol):
    """The pauses table: read by the cache, written when a channel is found down."""

    async def pauses(self, now: datetime) -> list[Pause]: ...

    async def pause(
        self, kind: str, target: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None: ...


class RateStore(Protocol):
    """The cluster's rate buckets: one reservation per grant, a provider's Retry-After."""

    async def reserve_rate(
        self,
        channel: str,
        sender: str,
        cost: float,
        per_second: float,
        *,
        count: int = 1,
        per_day: int | None = None,
        now: float | None = None,
        lead: float = 0.0,
    ) -> Reservation: ...

    async def throttle_rate(
        self, channel: str, sender: str, retry_after: float, *, now: float | None = None
    ) -> None: ...


class OutcomeStore(ChangeWriter, RateStore, Protocol):
    """The sender: outcomes in batches, what they mean for customers, an alert to ops."""

    async def apply_effects(self, effects: Sequence[CustomerEffect], now: datetime) -> None: ...

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int: ...


class RateLimiter(Protocol):
    """One rate per channel and sender, whoever sends: every replica asks the same limiter.

    ``acquire`` returns when ``cost`` (SMS segments, else one message) is granted, with
    the ``Departure`` the request must leave within (its slot may still be ahead: the
    caller waits for it, and takes a new grant if it missed it); when the channel's
    daily quota is spent it returns at once with the instant the quota allows again,
    nothing granted. ``throttle`` holds every grant back (a 429's Retry-After): the whole
    cluster waits, not just the replica that was told.
    """

    async def acquire(
        self, channel: ChannelName, sender: str, cost: float
    ) -> Departure | datetime: ...

    async def throttle(self, channel: ChannelName, sender: str, retry_after: timedelta) -> None: ...


class TimelineReader(Protocol):
    """The render stage: a customer's timeline for an ops message."""

    async def timeline(self, customer_id: str, *, limit: int = 500) -> list[TimelineEntry]: ...


class RecoveryStore(ChangeWriter, Protocol):
    """Recovery after a crash: expired leases found, adopted, resolved."""

    async def expired_leases(
        self, now: datetime, owner: str, limit: int, held: Collection[int] | None = None
    ) -> list[Notification]: ...

    async def adopt(
        self, ids: Sequence[int], now: datetime, owner: str, lease: timedelta
    ) -> list[int]: ...

    async def lookup_failures(self, ids: Sequence[int]) -> dict[int, int]: ...

    async def enqueue(self, scheduled: Sequence[Scheduled], now: datetime) -> int: ...


class ClaimStore(Protocol):
    """The dispatcher's own calls: lease due rows, load what deciding needs, give back."""

    async def claim(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        paused_rules: Sequence[str] = (),
    ) -> list[Notification]: ...

    async def release_all(self, owner: str, now: datetime) -> int: ...

    async def earliest_send(self) -> datetime | None:
        """The earliest ``not_before`` of a pending row: when an idle dispatcher looks again."""
        ...

    def leased_to(self, owner: str) -> Self:
        """This store, its ``apply_changes`` writing only rows leased to ``owner``."""
        ...

    async def get_customers(
        self, ids: Sequence[str], unreadable: dict[str, str] | None = None
    ) -> dict[str, Customer]: ...

    async def get_promises(
        self, ids: Sequence[int], unreadable: dict[int, str] | None = None
    ) -> dict[int, Promise]: ...

    async def sent_since(
        self, customer_ids: Sequence[str], since: datetime
    ) -> dict[str, list[datetime]]: ...


class CrisisReader(Protocol):
    """What the decide step's crisis stage and the inhibition read (domain/crisis.py)."""

    async def crisis_views(
        self, rows: Sequence[Notification]
    ) -> dict[tuple[int, str], CrisisView]: ...

    async def list_incidents(self, *, open_only: bool = False) -> list[Incident]: ...


class DispatchStore(ClaimStore, PauseStore, OutcomeStore, TimelineReader, CrisisReader, Protocol):
    """What the dispatcher is handed: its own calls and those of the parts it builds."""

"""What a simulation is given and what it finds: the store's state in, predicted sends out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from notifier.domain.decide import Mute
from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    NotificationId,
    Promise,
    PromiseId,
)
from notifier.domain.notices import Audience
from notifier.domain.outbox import DuePromise, Notification

# Why a notice would not go out (a withheld prediction's ``outcome``).
Fate = Literal["held", "suppressed", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending outbox row, with why its rule scheduled it."""

    notification: Notification
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Conditions:
    """How the daemon runs: what it may use and the limits it keeps."""

    available: frozenset[ChannelName]  # configured and not found down
    paused_channels: frozenset[ChannelName] = frozenset()
    paused_rules: frozenset[str] = frozenset()
    ops_address: str | None = None
    cap: int = 3
    window: timedelta = timedelta(minutes=10)  # consolidation window
    step: timedelta = timedelta(seconds=30)  # the daemon looks this often
    mutes: tuple[Mute, ...] = ()  # what holds individual notices back, as the daemon's


@dataclass(frozen=True, slots=True)
class World:
    """What the store holds now: promises with a check pending, the outbox, the cap ledger."""

    promises: Sequence[DuePromise]
    pending: Sequence[Pending] = ()
    customers: Mapping[CustomerId, Customer] = field(default_factory=dict)
    # Promises the pending rows speak of that have no check pending (to see if still true).
    settled: Mapping[PromiseId, Promise] = field(default_factory=dict)
    sent: Mapping[CustomerId, Sequence[datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Predicted:
    """One message that would go out."""

    at: datetime
    customer_id: CustomerId | None  # None: to ops about no one customer
    audience: Audience
    channel: ChannelName
    address: str
    via: str
    message: str
    rule_id: str | None
    promise_id: PromiseId | None
    dedupe_key: str
    notification_id: NotificationId | None  # the outbox row, when it exists already
    members: tuple[str, ...]  # dedupe keys of the notices folded into this message
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Withheld:
    """A notice that would not go out before the end, and why."""

    at: datetime
    customer_id: CustomerId | None  # None: to ops about no one customer
    rule_id: str | None
    promise_id: PromiseId | None
    dedupe_key: str
    notification_id: NotificationId | None
    outcome: Fate
    reason: str


@dataclass(frozen=True, slots=True)
class Forecast:
    sends: tuple[Predicted, ...]
    withheld: tuple[Withheld, ...]

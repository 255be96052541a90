"""Validated input for the ledger: what the API, the CLI and the import hand the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from notifier.domain.models import (
    Attributes,
    ChannelName,
    CustomerId,
    Direction,
    JSONValue,
    PromiseId,
)

CUSTOMER_FIELDS = (
    "name",
    "locale",
    "timezone",
    "country",
    "phone",
    "email",
    "whatsapp",
    "x_user_id",
    "preferred_channel",
)


@dataclass(frozen=True, slots=True)
class CustomerData:
    """A customer to create or update; only the fields in ``provided`` are written."""

    id: CustomerId
    values: Mapping[str, str | None] = field(default_factory=dict)
    consent: Mapping[ChannelName, bool] = field(default_factory=dict)

    @property
    def provided(self) -> frozenset[str]:
        """The fields this input sets (an absent field keeps its stored value)."""
        return frozenset(self.values)


@dataclass(frozen=True, slots=True)
class PromiseData:
    customer_id: CustomerId
    kind: str
    due_at: datetime
    external_ref: str
    window_start: datetime | None = None
    estimate_at: datetime | None = None
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InteractionData:
    customer_id: CustomerId
    channel: ChannelName
    direction: Direction
    at: datetime
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Upserted:
    """The outcome of one upsert: created, changed (and how), or left as it was."""

    id: str | int
    created: bool = False
    changed: bool = False
    rescheduled: bool = False


@dataclass(frozen=True, slots=True)
class RowError:
    """One input the store refused, with the field to blame."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    type: str  # promise.created, promise.rescheduled, interaction, notification.sent ...
    summary: str
    promise_id: PromiseId | None = None
    notification_id: int | None = None
    data: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ForgetReport:
    customer_id: CustomerId
    interactions: int
    promises: int
    notifications: int

"""The values the core decides about: customers, promises, interactions, notices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NewType, TypeAlias

from notifier.domain.countries import country_of_phone

CustomerId = NewType("CustomerId", str)
PromiseId = NewType("PromiseId", int)
NotificationId = NewType("NotificationId", int)
IncidentId = NewType("IncidentId", int)

ChannelName: TypeAlias = Literal["sms", "whatsapp", "email", "x"]
CHANNELS: tuple[ChannelName, ...] = ("sms", "whatsapp", "email", "x")

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None
Attributes: TypeAlias = Mapping[str, JSONValue]


class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseEventType(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    RESCHEDULED = "rescheduled"
    KEPT = "kept"
    CANCELLED = "cancelled"
    BROKEN = "broken"
    PLAN_ERROR = "plan_error"  # the scan could not plan it: see docs/operations.md


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Source(StrEnum):
    """Where a change came from: kept with every promise event."""

    API = "api"
    CLI = "cli"
    IMPORT = "import"
    DAEMON = "daemon"
    DEMO = "demo"
    WEBHOOK = "webhook"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"  # proposed, and a person said it is no incident


def is_channel(value: str) -> bool:
    """True when ``value`` names one of the four channels."""
    return value in CHANNELS


@dataclass(frozen=True, slots=True)
class Customer:
    id: CustomerId
    locale: str
    timezone: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    whatsapp: str | None = None
    x_user_id: str | None = None
    preferred_channel: ChannelName | None = None
    opted_out: frozenset[ChannelName] = frozenset()
    # channel -> the address that failed hard (SMTP 5xx at RCPT, Twilio 21211/21614);
    # it stays undeliverable until the address changes.
    undeliverable: Mapping[ChannelName, str] = field(default_factory=dict)
    last_used_channel: ChannelName | None = None
    last_whatsapp_inbound_at: datetime | None = None
    forgotten: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, as given; see home_country

    @property
    def home_country(self) -> str | None:
        """Return the country given, else the one the phone (or WhatsApp) number implies."""
        if self.country is not None:
            return self.country
        return country_of_phone(self.phone) or country_of_phone(self.whatsapp)

    def address(self, channel: ChannelName) -> str | None:
        """Return the customer's address on ``channel``, or None when there is none."""
        return {
            "sms": self.phone,
            "whatsapp": self.whatsapp or self.phone,
            "email": self.email,
            "x": self.x_user_id,
        }[channel]

    def has_consent(self, channel: ChannelName) -> bool:
        """True unless the customer opted out of ``channel``."""
        return channel not in self.opted_out

    def is_deliverable(self, channel: ChannelName) -> bool:
        """True when there is an address on ``channel`` that has not failed hard."""
        address = self.address(channel)
        return address is not None and self.undeliverable.get(channel) != address


@dataclass(frozen=True, slots=True)
class PlanError:
    """Why the scan could not plan a promise, since when, and how many times in a row."""

    rule: str | None  # the rule at fault, when one rule alone fails
    reason: str  # one line: the rule and the exception's type and text
    count: int
    since: datetime


@dataclass(frozen=True, slots=True)
class Promise:
    id: PromiseId
    customer_id: CustomerId
    kind: str
    status: PromiseStatus
    due_at: datetime
    external_ref: str
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    window_start: datetime | None = None
    estimate_at: datetime | None = None
    attributes: Attributes = field(default_factory=dict)
    # Bumped by every reschedule: what was sent about an older deadline stays sent,
    # stages for the new one start afresh.
    deadline_version: int = 1
    times_broken: int = 0
    next_check_at: datetime | None = None
    # Set while the scan fails on it; an edit (upsert, reschedule, keep, cancel) clears it.
    plan_error: PlanError | None = None

    @property
    def is_settled(self) -> bool:
        """True when the promise was kept or cancelled: nothing more to watch for it."""
        return self.status in (PromiseStatus.KEPT, PromiseStatus.CANCELLED)

    def broken_at(self, at: datetime) -> Promise:
        """Return this promise marked broken at ``at`` (the scan does it for each one late)."""
        # Spelled out rather than dataclasses.replace: the scan calls this per due promise.
        return Promise(
            id=self.id, customer_id=self.customer_id, kind=self.kind,
            status=PromiseStatus.BROKEN, due_at=self.due_at, external_ref=self.external_ref,
            created_at=self.created_at, updated_at=self.updated_at, status_changed_at=at,
            window_start=self.window_start, estimate_at=self.estimate_at,
            attributes=self.attributes, deadline_version=self.deadline_version,
            times_broken=self.times_broken + 1, next_check_at=self.next_check_at,
            plan_error=self.plan_error,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromiseEvent:
    promise_id: PromiseId
    type: PromiseEventType
    at: datetime
    source: Source
    deadline_version: int
    data: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Interaction:
    customer_id: CustomerId
    channel: ChannelName
    direction: Direction
    at: datetime
    id: int | None = None

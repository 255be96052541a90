"""What the rules decide to send, what was already scheduled for a promise, and the notices
that are no promise's step (to ops, incident updates)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from notifier.domain.models import ChannelName, CustomerId, JSONValue, PromiseId
from notifier.domain.quiet_hours import QuietHours

Stage = Literal[
    "at_risk", "late", "repeat", "escalated", "kept", "broken", "rescheduled", "cancelled"
]
Audience = Literal["customer", "ops"]
# Stages that say "late": only these go out together as one ``several_late`` message. A
# warning (at risk), a thanks (kept) or a new date is not late and goes on its own.
LATE_STAGES = frozenset({"late", "repeat", "broken"})
Priority = Literal["low", "normal", "high", "critical"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "critical")


def dedupe_key(rule_id: str, promise_id: PromiseId, deadline_version: int, step: int) -> str:
    """Return the key that makes a notice unique: it names the rule by id, never by position."""
    return f"{rule_id}:{promise_id}:{deadline_version}:{step}"


def incident_update_key(incident_id: int, customer_id: CustomerId, update: int) -> str:
    """Return the key of an incident's ``update``-th notice to one customer."""
    return f"incident:{incident_id}:customer:{customer_id}:update:{update}"


@dataclass(frozen=True, slots=True)
class Notice:
    dedupe_key: str
    rule_id: str
    promise_id: PromiseId
    customer_id: CustomerId
    deadline_version: int
    stage: Stage
    # 0 for a stage's first notice, 1..n for repeats, ESCALATION_STEP for the escalation.
    step: int
    message: str
    audience: Audience
    channel: ChannelName | Literal["last_used"]
    fallback: tuple[ChannelName, ...]
    priority: Priority
    not_before: datetime
    quiet_hours: QuietHours | None
    reason: str

    @property
    def incident_id(self) -> int | None:
        """Always None: a promise's step belongs to no incident."""
        return None

    @property
    def data(self) -> Mapping[str, JSONValue]:
        """Always empty: its template reads the promise and the customer."""
        return _NO_DATA


_NO_DATA: Mapping[str, JSONValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StandaloneNotice:
    """A notice that is no promise's step: an alert to ops, an incident update to a customer.

    ``customer_id`` is None for ops (nobody's message); ``data`` holds what its template
    reads as ``ops`` (a channel-down alert's reason, a forwarded reply's text).
    """

    dedupe_key: str
    message: str
    audience: Audience
    channel: ChannelName | Literal["last_used"]
    not_before: datetime
    reason: str
    stage: str
    customer_id: CustomerId | None = None
    incident_id: int | None = None
    fallback: tuple[ChannelName, ...] = ()
    priority: Priority = "normal"
    step: int = 0
    quiet_hours: QuietHours | None = None
    data: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def promise_id(self) -> PromiseId | None:
        """Always None: no promise's deadline makes this notice moot."""
        return None

    @property
    def rule_id(self) -> str | None:
        """Always None: no rule scheduled it."""
        return None

    @property
    def deadline_version(self) -> int | None:
        """Always None: it belongs to no promise's deadline."""
        return None


AnyNotice = Notice | StandaloneNotice


@dataclass(frozen=True, slots=True)
class SentLedger:
    keys: frozenset[str] = frozenset()
    # The keys of the notices that went out (claimed for a send, sent, delivered ...), for
    # ``when.told``: one cancelled as moot, suppressed or failed told the customer nothing.
    # None: every key in ``keys`` went out.
    went_out: frozenset[str] | None = None

    def has(self, key: str) -> bool:
        """True when a notice with ``key`` was already scheduled."""
        return key in self.keys

    def told(self, key: str) -> bool:
        """True when the notice with ``key`` went out to its audience (or is going)."""
        return key in (self.keys if self.went_out is None else self.went_out)

    def with_keys(self, keys: list[str] | tuple[str, ...]) -> SentLedger:
        """Return a ledger that also holds ``keys`` (what the outbox holds after a write)."""
        return SentLedger(self.keys | frozenset(keys), self.went_out)

    def with_sent(self, keys: list[str] | tuple[str, ...]) -> SentLedger:
        """Return a ledger in which ``keys`` are scheduled and went out."""
        went_out = self.keys if self.went_out is None else self.went_out
        return SentLedger(self.keys | frozenset(keys), went_out | frozenset(keys))

"""What the rules decide to send, and what was already scheduled for a promise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from notifier.domain.models import ChannelName, CustomerId, PromiseId
from notifier.domain.quiet_hours import QuietHours

Stage = Literal[
    "at_risk", "late", "repeat", "escalated", "kept", "broken", "rescheduled", "cancelled"
]
Audience = Literal["customer", "ops"]
Priority = Literal["low", "normal", "high", "critical"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "critical")


def dedupe_key(rule_id: str, promise_id: PromiseId, deadline_version: int, step: int) -> str:
    """Return the key that makes a notice unique: it names the rule by id, never by position."""
    return f"{rule_id}:{promise_id}:{deadline_version}:{step}"


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


@dataclass(frozen=True, slots=True)
class SentLedger:
    keys: frozenset[str] = frozenset()

    def has(self, key: str) -> bool:
        """True when a notice with ``key`` was already scheduled."""
        return key in self.keys

    def with_keys(self, keys: list[str] | tuple[str, ...]) -> SentLedger:
        """Return a ledger that also holds ``keys`` (what the outbox holds after a write)."""
        return SentLedger(self.keys | frozenset(keys))

"""What ops read back: pauses, the queue, the latest errors, a notification and its history.

The store builds these from its rows; ``notifier status``, ``notification show/list`` and
the API render them. They carry what the rows hold, nothing decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.domain.crm_events import EventBacklog
from notifier.domain.health import Backlog
from notifier.domain.models import JSONValue
from notifier.domain.outbox import Notification
from notifier.domain.published import PublishedState


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause in force: ops hold a channel or a rule, or a channel was found down."""

    id: int
    kind: str  # "channel" or "rule" (ops), "down" (found down)
    target: str
    reason: str
    created_at: datetime
    until: datetime | None  # a down channel is probed again then; None for ops pauses


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Notifications by status, and when the oldest pending one is due."""

    counts: Mapping[str, int]
    oldest_pending: datetime | None

    def count(self, status: str) -> int:
        """Return how many notifications have ``status`` (0 when none)."""
        return self.counts.get(status, 0)


@dataclass(frozen=True, slots=True)
class ErrorLine:
    """One failed attempt from a notification's history (retry, failed channel, down, failed)."""

    id: int
    notification_id: int
    at: datetime
    type: str
    channel: str | None
    reason: str | None
    detail: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class PlanErrorLine:
    """A promise the scan cannot plan: which rule failed, why, since when, the next try."""

    id: int
    customer_id: str
    kind: str
    rule: str | None
    reason: str | None
    since: datetime | None
    failures: int
    next_check_at: datetime | None


@dataclass(frozen=True, slots=True)
class RenderErrorLine:
    """A notification failed because its message could not be rendered."""

    at: datetime
    notification_id: int
    customer_id: str | None
    message: str
    channel: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a notification's history: a decision, an attempt, an answer."""

    at: datetime
    type: str
    channel: str | None
    reason: str | None
    detail: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A notification with what the dispatcher's view leaves out: its outcome and times."""

    notification: Notification
    error_code: str | None
    error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime
    # When NOTIFIER_RETENTION emptied it (body, address, history): kept as a tombstone.
    purged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NotificationDetail:
    """A notification and its whole history, oldest first."""

    record: NotificationRecord
    history: Sequence[HistoryEntry]


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything ``notifier status`` judges from, read at ``now``."""

    now: datetime
    queue: QueueStats
    sending: Backlog
    published: PublishedState
    pauses: Sequence[Pause]
    last_errors: Sequence[ErrorLine]
    plan_error_count: int
    plan_errors: Sequence[PlanErrorLine]
    render_errors: Sequence[RenderErrorLine]
    events: EventBacklog = field(default_factory=EventBacklog)  # the CRM's events waiting

    @property
    def paused(self) -> list[Pause]:
        """The pauses ops made (channels and rules)."""
        return [p for p in self.pauses if p.kind != "down"]

    @property
    def down(self) -> list[Pause]:
        """The channels found down, until their probe time."""
        return [p for p in self.pauses if p.kind == "down"]


def scheduled_entry(
    created_at: datetime, rule_id: str | None, stage: str, payload: Mapping[str, JSONValue]
) -> HistoryEntry:
    """Return the first line of an outbox row's history: when and why it was scheduled."""
    reason = payload.get("reason")
    return HistoryEntry(created_at, "scheduled", None, reason if isinstance(reason, str) else None,
                        {"rule": rule_id, "stage": stage})  # fmt: skip

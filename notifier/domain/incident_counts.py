"""How an incident's fan-out stands: each affected customer counted once, by channel.

A customer is *told* once an opening or update went out to them; otherwise their newest
row says where they are: pending (due now or being sent), deferred (quiet hours, waiting
for an earlier message), held (the incident paused or unconfirmed), failed (every way
failed), skipped (no channel they can be reached on: opted out, no address) or cancelled
(superseded, settled, left out on their channel). Not yet planned counts as pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.domain.crisis import PAUSED, TOLD, WAITING
from notifier.domain.incidents import RESOLVED

STATES = ("told", "pending", "deferred", "held", "failed", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """One incident row, as counting needs it."""

    customer_id: str
    step: int
    message: str
    status: str
    channel: str | None
    error_code: str | None
    not_before: datetime
    attempted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Counts:
    affected: int
    states: dict[str, int]
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    resolved: int = 0  # customers the resolution went out to

    def to_json(self) -> dict[str, object]:
        return {"affected": self.affected, **self.states, "resolved": self.resolved,
                "by_channel": self.by_channel}  # fmt: skip


def tally(affected: int, rows: Sequence[ThreadFacts], now: datetime) -> Counts:
    """Return the counts of ``affected`` customers from their incident rows."""
    by_customer: dict[str, list[ThreadFacts]] = {}
    for r in rows:
        by_customer.setdefault(r.customer_id, []).append(r)
    states = dict.fromkeys(STATES, 0)
    channels: dict[str, dict[str, int]] = {}
    resolved = 0
    for found in by_customer.values():
        told = [r for r in found if r.message != RESOLVED and r.status in TOLD]
        resolved += any(r.message == RESOLVED and r.status in TOLD for r in found)
        newest = max(found, key=lambda r: r.step)
        state = "told" if told else _state(newest, now)
        states[state] += 1
        channel = (told[0].channel if told else newest.channel) or "-"
        per = channels.setdefault(channel, dict.fromkeys(STATES, 0))
        per[state] += 1
    states["pending"] += max(affected - len(by_customer), 0)
    return Counts(affected, states, channels, resolved)


def _state(r: ThreadFacts, now: datetime) -> str:
    if r.status in ("pending", "sending"):
        if r.error_code in (PAUSED, WAITING):
            return "held"
        if r.status == "pending" and r.attempted_at is None and r.not_before > now:
            return "deferred"
        return "pending"
    if r.status in ("failed", "undelivered"):
        return "failed"
    if r.status == "suppressed":
        return "skipped"
    return "cancelled"

"""How an incident's fan-out stands: each affected customer counted once, by channel.

A customer is *told* once an opening or update went out to them (on the channel of the
first that did); otherwise their newest row says where they are: pending (due now or
being sent), deferred (quiet hours, waiting for an earlier message), held (the incident
paused or unconfirmed), failed (every way failed), skipped (no channel they can be reached
on: opted out, no address) or cancelled (superseded, settled, left out on their channel).
Not yet planned counts as pending. The store counts them with one GROUP BY
(``store/incident_counts.py``), so ``show --watch`` can poll 100,000 customers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from notifier.domain.incidents import Incident

STATES = ("told", "pending", "deferred", "held", "failed", "skipped", "cancelled")
NO_CHANNEL = "-"  # a customer whose newest row has no channel yet


@dataclass(frozen=True, slots=True)
class StateGroup:
    """Customers in one state on one channel, as the store counted them."""

    state: str
    channel: str
    customers: int
    resolved: int  # of them, those the resolution went out to


@dataclass(frozen=True, slots=True)
class Counts:
    affected: int
    states: dict[str, int]
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    resolved: int = 0  # customers the resolution went out to

    def to_json(self) -> dict[str, object]:
        return {"affected": self.affected, **self.states, "resolved": self.resolved,
                "by_channel": self.by_channel}  # fmt: skip


def counts_of(affected: int, groups: Iterable[StateGroup]) -> Counts:
    """Return the counts of ``affected`` customers from the store's groups; the affected
    with no row yet (the planner's turn is to come) are pending."""
    states = dict.fromkeys(STATES, 0)
    channels: dict[str, dict[str, int]] = {}
    resolved = with_rows = 0
    for g in groups:
        states[g.state] += g.customers
        per = channels.setdefault(g.channel, dict.fromkeys(STATES, 0))
        per[g.state] += g.customers
        resolved += g.resolved
        with_rows += g.customers
    states["pending"] += max(affected - with_rows, 0)
    return Counts(affected, states, dict(sorted(channels.items())), resolved)


def progress(counts: Counts) -> tuple[int, int]:
    """Return (done, of): the told, failed and skipped among the affected, and the affected
    less those with nothing to say any more (cancelled), so that a settled fan-out is 100%."""
    s = counts.states
    return s["told"] + s["failed"] + s["skipped"], max(counts.affected - s["cancelled"], 0)


def is_settled(incident: Incident, counts: Counts) -> bool:
    """True when the fan-out is over: the planner wrote the rows the last command asked
    for, and nobody affected is pending, deferred (quiet hours) or held (paused,
    unconfirmed) any more."""
    if incident.awaiting_confirmation or incident.awaits_planner:
        return False
    s = counts.states
    return s["pending"] + s["deferred"] + s["held"] == 0

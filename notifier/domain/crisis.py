"""The decide step's crisis stage: what one incident row becomes, and the inhibition mute.

The planner writes, per affected customer, one row per published step (the key
``incident:<id>:customer:<id>:update:<n>``); this decides at send time, from the
customer's rows of the incident (their *thread*), so that whatever raced:

- latest-wins: a row with a newer row beside it is superseded;
- one apology: the first message a customer gets is ``crisis_opened`` (worded with the
  step it goes at), every later one ``crisis_update``; a row waits while an earlier one
  of the thread is in flight, so two replicas never both open;
- the resolution contract: ``crisis_resolved`` goes to everyone who was told, whatever
  the quiet hours (they defer it) or the cap (crisis messages are not capped), and to
  nobody who was not;
- verbosity: SMS and WhatsApp get an update only when it brings a new estimate.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.incidents import OPENED, RESOLVED, UPDATED, Incident, Step
from notifier.domain.models import (
    ChannelName,
    Customer,
    IncidentStatus,
    NotificationId,
    NotificationStatus,
    Promise,
)
from notifier.domain.outbox import Change, Event, Muted, Notification, back_in_outbox

# An incident row waits this long for an earlier message of its thread to settle.
SETTLE = timedelta(seconds=2)
# A paused (or unconfirmed) incident's rows wait; resume and confirm bring them back at once.
HOLD = timedelta(hours=1)
PAUSED = "incident_paused"  # error_code of a row held by the kill switch
WAITING = "incident_unconfirmed"  # error_code of a row held until a person confirms
MUTED_BY_INCIDENT = "muted_by_incident"  # error_code of an individual notice held back
# What a customer was told: the message went (or may have gone) out.
TOLD = frozenset(
    {NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.UNKNOWN}
)
_OPEN_ROW = frozenset({NotificationStatus.PENDING, NotificationStatus.SENDING})


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """One of a customer's rows of an incident, as the decide step needs it."""

    id: int
    step: int
    message: str
    status: NotificationStatus
    attempted: bool  # an attempt began (it may be out)
    leased: bool  # a dispatcher holds it

    @property
    def told(self) -> bool:
        """True when it apologised or updated (went out, or may have)."""
        return self.message != RESOLVED and self.status in TOLD

    @property
    def in_flight(self) -> bool:
        """True when a dispatcher holds it or an attempt of it is unsettled."""
        return self.status in _OPEN_ROW and (self.attempted or self.leased)


@dataclass(frozen=True, slots=True)
class CrisisView:
    """One customer's side of an incident: its rows and their promises it covers now."""

    incident: Incident
    rows: tuple[ThreadRow, ...]
    affected: tuple[Promise, ...]


@dataclass(frozen=True, slots=True)
class CrisisGo:
    """What a crisis row goes out as: its message, the promises it lists, its context."""

    message: str
    affected: tuple[Promise, ...]
    context: Mapping[str, object]


def before_route(
    n: Notification,
    view: CrisisView | None,
    claimed: Collection[NotificationId],
    now: datetime,
) -> Change | str:
    """Return the change that settles or defers incident row ``n``, or its message."""
    if view is None:
        return _cancel(n, "cancelled", "the incident is gone")
    inc = view.incident
    if inc.status is IncidentStatus.DISMISSED:
        return _cancel(n, "cancelled", f"incident {inc.id} was dismissed")
    if inc.awaiting_confirmation:
        why = f"incident {inc.id} waits for a person to confirm it"
        return back_in_outbox(n.id, now + HOLD, Event("held", why), error_code=WAITING, error=why)
    if inc.paused:
        why = f"incident {inc.id} paused by ops"
        return back_in_outbox(n.id, now + HOLD, Event("held", why), error_code=PAUSED, error=why)
    step = inc.step(n.step)
    if step is None:
        return _cancel(n, "cancelled", f"incident {inc.id} has no update {n.step}")
    others = [r for r in view.rows if r.id != n.id]
    newer = max((r.step for r in others if r.step > n.step), default=None)
    if newer is not None:
        return _cancel(n, "superseded", f"superseded by update {newer} of incident {inc.id}")
    if any(r.in_flight and r.id not in claimed for r in others):
        why = "waiting for the incident's earlier message to this customer to settle"
        return back_in_outbox(n.id, now + SETTLE, Event("deferred", why))
    told = any(r.told for r in others)
    if step.kind == "resolved":
        if not told:
            return _cancel(n, "cancelled", "never told of the incident: no resolution to send")
        return RESOLVED
    if not view.affected:
        return _cancel(n, "cancelled", "none of the customer's promises is affected any more")
    return UPDATED if told else OPENED


def after_route(
    n: Notification, view: CrisisView, message: str, channel: ChannelName
) -> Change | None:
    """Return the change that leaves out an update ``channel`` does not carry, or None."""
    inc = view.incident
    if message != UPDATED or channel in inc.updates_on or estimate_changed(n, view):
        return None
    why = (
        f"update {n.step} not sent on {channel}: it gets the opening, a new estimate and "
        "the resolution"
    )
    return _cancel(n, "skipped", why)


def estimate_changed(n: Notification, view: CrisisView) -> bool:
    """True when step ``n.step`` brings another estimate than the last one told."""
    inc = view.incident
    told = [r.step for r in view.rows if r.told and r.id != n.id and r.step < n.step]
    step = inc.step(n.step)
    if not told or step is None:
        return False
    last = inc.step(max(told))
    return last is None or last.estimate_at != step.estimate_at


def crisis_context(n: Notification, view: CrisisView, message: str) -> dict[str, object]:
    """Return the ``incident`` variable of row ``n`` going out as ``message``."""
    inc = view.incident
    step = inc.step(n.step) or inc.latest
    texts = step.messages
    if message == OPENED and not texts:  # a late joiner's opening: the latest account of it
        told = [s.messages for s in inc.steps if s.number <= step.number and s.messages]
        texts = told[-1] if told else texts
    changed = message == UPDATED and estimate_changed(n, view)
    return incident_variable(inc, step, changed, texts)


def incident_variable(
    inc: Incident, step: Step, changed: bool, texts: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The ``incident`` a crisis template reads (the renderer picks the locale's texts):
    ``texts`` stand in for the step's own when given."""
    return {
        "id": inc.id,
        "update": step.number,
        "titles": dict(inc.titles),
        "messages": dict(step.messages if texts is None else texts),
        "status": step.status.value,
        "severity": inc.severity.value,
        "estimate_at": step.estimate_at,
        "estimate_changed": changed,
        "updates_on": sorted(inc.updates_on),
        "opened_at": inc.opened_at,
        "resolved_at": inc.resolved_at,
    }


@dataclass(frozen=True, slots=True)
class IncidentMute:
    """The inhibition: a customer notice of a promise an open incident covers is held back.

    It becomes ``suppressed`` with the incident as reason (error code
    ``muted_by_incident``); the rules' ``told`` counts it as said, and the promise's next
    stage (a repeat, an escalation) fires as usual once no incident covers it.
    """

    incidents: Sequence[Incident]

    def __call__(
        self, n: Notification, customer: Customer | None, promise: Promise | None, now: datetime
    ) -> Muted | None:
        if n.incident_id is not None or n.audience != "customer":
            return None
        if promise is None or customer is None:
            return None
        for inc in self.incidents:
            if inc.inhibits and inc.segment.covers(promise, customer):
                why = f"held back by incident {inc.id}: its messages stand in for this notice"
                return Muted(why, code=MUTED_BY_INCIDENT)
        return None


def _cancel(n: Notification, kind: str, reason: str) -> Change:
    return Change(n.id, Event(kind, reason), NotificationStatus.CANCELLED, error=reason,
                  release=True)  # fmt: skip


def by_thread(views: Mapping[tuple[int, str], CrisisView], n: Notification) -> CrisisView | None:
    """Return the view of row ``n``'s incident and customer, or None."""
    if n.incident_id is None or n.customer_id is None:
        return None
    return views.get((n.incident_id, n.customer_id))

"""The decide step: what becomes of each claimed notification before it is sent.

One pure function of (values, now) that the dispatcher and ``notifier simulate`` both
call: the moot check, the mutes (a crisis holding individual notices back), routing
with consent, addresses, quiet hours and paused channels, the route to ops, the
frequency cap (sends still in flight included) and consolidation into one message per
customer (of their late notices; a warning or a thanks goes on its own). It returns
the changes to write and the messages to send; the caller renders, sends and writes.
What follows a send's outcome is decided in ``domain/consequences.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from notifier.domain.crisis import CrisisGo, CrisisView, after_route, before_route, crisis_context
from notifier.domain.dispatch import capped_until, moot_reason
from notifier.domain.errors import one_line
from notifier.domain.models import (
    ChannelName,
    Customer,
    JSONValue,
    NotificationId,
    NotificationStatus,
    Promise,
)
from notifier.domain.notices import LATE_STAGES
from notifier.domain.outbox import (
    ROUTE_ERROR,
    UNREADABLE_ROW,
    Change,
    Event,
    Muted,
    Notification,
    back_in_outbox,
    failed,
)
from notifier.domain.routing import Send, Suppress, Via, Wait, route

CONSOLIDATED = "several_late"  # the message several notices for one customer go out as
OPS_UNREACHABLE = "no way to reach ops: set NOTIFIER_OPS_EMAIL and configure email"
CUSTOMER_GONE = "the customer is gone"
HOLD = timedelta(hours=1)  # a paused channel's notices wait; resume brings them back at once
SETTLE = timedelta(seconds=2)  # the cap waits this long for a send in flight to settle


# A mute looks at one notification (its customer and promise) and says whether to hold
# it back: an open incident's messages stand in for its promises' notices (crisis.py).
Mute = Callable[[Notification, Customer | None, Promise | None, datetime], Muted | None]


@dataclass(frozen=True, slots=True)
class Situation:
    """How things stand for delivery: what may be used, the limits, the mutes."""

    available: frozenset[ChannelName]  # configured and not found down
    paused: frozenset[ChannelName] = frozenset()  # channels ops paused
    ops_address: str | None = None
    cap: int = 3  # proactive messages per customer in 24 h
    mutes: tuple[Mute, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """The claimed rows and what they need: their customers, promises and recent sends."""

    rows: Sequence[Notification]
    customers: Mapping[str, Customer]
    promises: Mapping[int, Promise]
    sent: Mapping[str, Sequence[datetime]]  # when each customer's messages went out
    in_flight: Mapping[str, int] = field(default_factory=dict)  # sends not settled yet
    unreadable: Mapping[str, str] = field(default_factory=dict)  # customer id: why
    unreadable_promises: Mapping[int, str] = field(default_factory=dict)
    # Per (incident, customer) of the incident rows claimed: their thread and promises.
    crises: Mapping[tuple[int, str], CrisisView] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Go:
    """One message to render and send: a notification and those folded into it."""

    notification: Notification
    send: Send
    members: tuple[Notification, ...] = ()

    @property
    def message(self) -> str:
        """The message it goes out as: several notices make one ``several_late``."""
        return CONSOLIDATED if self.members else self.notification.message


@dataclass(frozen=True, slots=True)
class Fault:
    """A row that failed a stage on its own values (its ``failed`` change is written)."""

    notification: Notification
    reason: str  # ROUTE_ERROR, UNREADABLE_ROW
    text: str
    error: BaseException | None = None


@dataclass(slots=True)
class Decision:
    changes: list[Change] = field(default_factory=list)  # rows decided without a send
    goes: list[Go] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    crises: dict[NotificationId, CrisisGo] = field(default_factory=dict)  # what each says


def decide(claim: Claim, situation: Situation, now: datetime) -> Decision:
    """Return what to do with every claimed row: a change, or a place in a message.

    A row whose values break a stage fails alone (``route_error``), and so does a group
    whose planning breaks: the others go on.
    """
    out = Decision()
    groups: dict[str, list[tuple[Notification, Send]]] = {}
    claimed = frozenset(n.id for n in claim.rows)
    for n in claim.rows:
        why = (claim.unreadable.get(n.customer_id) if n.customer_id is not None else None) or (
            claim.unreadable_promises.get(n.promise_id) if n.promise_id is not None else None
        )
        if why is not None:  # a hand-made row: this notification fails, the batch goes on
            out.faults.append(Fault(n, UNREADABLE_ROW, why))
            out.changes.append(failed(n.id, UNREADABLE_ROW, why, None))
            continue
        try:
            if n.incident_id is not None:
                verdict, n = route_crisis(n, claim, situation, claimed, now, out)
            else:
                verdict = route_one(n, claim, situation, now)
        except Exception as exc:  # one row's values must not stop the others
            verdict = _fault(out, n, exc)
        if isinstance(verdict, Change):
            out.changes.append(verdict)
        else:
            groups.setdefault(group_key(n), []).append((n, verdict))
    sent = {cid: list(times) for cid, times in claim.sent.items()}
    for group in groups.values():
        changes, goes = len(out.changes), len(out.goes)
        try:
            plan_group(group, sent, claim.in_flight, situation.cap, now, out)
        except Exception as exc:
            del out.changes[changes:], out.goes[goes:]
            out.changes.extend(_fault(out, n, exc) for n, _ in group)
    return out


def group_key(n: Notification) -> str:
    """Return what rows go out together by: a customer's late notices; any other alone."""
    if n.audience == "customer" and n.customer_id is not None:
        return n.customer_id if n.stage in LATE_STAGES else f"{n.customer_id}:{n.id}"
    return f"ops:{n.id}"


def route_one(n: Notification, claim: Claim, s: Situation, now: datetime) -> Change | Send:
    """Return where one row goes now, or the change that settles or defers it."""
    customer = claim.customers.get(n.customer_id) if n.customer_id is not None else None
    promise = claim.promises.get(n.promise_id) if n.promise_id is not None else None
    moot = moot_reason(n, promise)
    if moot is not None:
        return final(n, NotificationStatus.CANCELLED, "cancelled", moot)
    for mute in s.mutes:
        muted = mute(n, customer, promise, now)
        if muted is not None:
            return _muted(n, muted)
    if n.audience == "ops":
        return route_ops(n, s)
    if customer is None:
        return final(n, NotificationStatus.CANCELLED, "cancelled", CUSTOMER_GONE)
    return route_customer(n, customer, s, now)


def route_crisis(
    n: Notification,
    claim: Claim,
    s: Situation,
    claimed: frozenset[NotificationId],
    now: datetime,
    out: Decision,
) -> tuple[Change | Send, Notification]:
    """Route an incident row (``domain/crisis.py``): the row back with its message set."""
    view = (
        claim.crises.get((n.incident_id, n.customer_id))
        if n.incident_id and n.customer_id
        else None
    )
    first = before_route(n, view, claimed, now)
    if isinstance(first, Change):
        return first, n
    assert view is not None
    customer = claim.customers.get(n.customer_id) if n.customer_id is not None else None
    if customer is None:
        return final(n, NotificationStatus.CANCELLED, "cancelled", CUSTOMER_GONE), n
    n = replace(n, message=first)
    routed = route_customer(n, customer, s, now)
    if isinstance(routed, Change):
        return routed, n
    left_out = after_route(n, view, first, routed.channel)
    if left_out is not None:
        return left_out, n
    out.crises[n.id] = CrisisGo(first, view.affected, crisis_context(n, view, first))
    return routed, n


def route_customer(
    n: Notification, customer: Customer, s: Situation, now: datetime
) -> Change | Send:
    """Return where a customer's row goes now: consent, addresses, quiet hours, pauses."""
    decision = route(customer, n.channel_choice, n.fallback, s.available, n.failed_channels,
                     now, n.quiet_hours)  # fmt: skip
    skipped: dict[str, JSONValue] = {k.channel: str(k.reason) for k in decision.skipped}
    if isinstance(decision, Suppress):
        # Tried already and every way failed: that is a failure, not a choice not to send.
        status, kind = (
            (NotificationStatus.FAILED, "failed")
            if n.failed_channels
            else (NotificationStatus.SUPPRESSED, "suppressed")
        )
        event = Event(kind, decision.reason, detail={"skipped": skipped})
        return Change(n.id, event, status, error=decision.reason, release=True)
    if isinstance(decision, Wait):
        event = Event("deferred", decision.reason, decision.channel,
                      {"until": decision.until.isoformat(), "skipped": skipped})  # fmt: skip
        return back_in_outbox(n.id, decision.until, event)
    if decision.channel in s.paused:
        reason = f"channel {decision.channel} paused by ops"
        event = Event("held", reason, decision.channel)
        return back_in_outbox(n.id, now + HOLD, event, error_code="held", error=reason)
    return decision


def route_ops(n: Notification, s: Situation) -> Change | Send:
    """Return the route of a notice to ops: email to NOTIFIER_OPS_EMAIL, if it can go."""
    if s.ops_address is None or "email" not in s.available:
        return final(n, NotificationStatus.SUPPRESSED, "suppressed", OPS_UNREACHABLE)
    return Send("email", s.ops_address, Via.RULE)


def plan_group(
    group: Sequence[tuple[Notification, Send]],
    sent: dict[str, list[datetime]],
    in_flight: Mapping[str, int],
    cap: int,
    now: datetime,
    out: Decision,
) -> None:
    """Plan one customer's routed rows: held by the cap, or one message for them all.

    ``sent`` is the cap ledger, updated here as messages are planned; a send still in
    flight counts once it settles, so a customer at the cap with one in flight waits.
    """
    primary, send = group[0]
    cid = primary.customer_id
    # Crisis messages are not capped, nor counted (the cap ledger leaves them out).
    capped = primary.priority != "critical" and primary.incident_id is None
    if primary.audience == "customer" and capped and cid is not None:
        until, reason = cap_hold(sent.get(cid, []), in_flight.get(cid, 0), cap, now)
        if until is not None:
            for n, _ in group:
                out.changes.append(back_in_outbox(n.id, until, Event("deferred", reason)))
            return
        sent.setdefault(cid, []).append(now)
    members = tuple(n for n, _ in group[1:])
    for m in members:
        reason = f"goes with notification {primary.id} as one message"
        # attempted_at marks it as in flight with its message: shutdown must not release
        # it on its own, and recovery resolves it together with that message.
        out.changes.append(
            Change(m.id, Event("folded", reason), folded_into=primary.id, attempted_at=now)
        )
    out.goes.append(Go(primary, send, members))


def cap_hold(
    sent: Sequence[datetime], in_flight: int, cap: int, now: datetime
) -> tuple[datetime | None, str]:
    """Return until when the frequency cap holds a customer's next message, and why."""
    reason = f"frequency cap: {cap} messages in 24 h"
    until = capped_until(sent, cap, now)
    if until is None and in_flight and capped_until([*sent, *[now] * in_flight], cap, now):
        return now + SETTLE, f"{reason}; a message to them is in flight"
    return until, reason


def final(n: Notification, status: NotificationStatus, kind: str, reason: str) -> Change:
    """Return the change that ends a row with ``status``, ``reason`` in its history."""
    return Change(n.id, Event(kind, reason), status, error=reason, release=True)


def _muted(n: Notification, muted: Muted) -> Change:
    if muted.until is None:
        return Change(n.id, Event("muted", muted.reason), NotificationStatus.SUPPRESSED,
                      error=muted.reason, error_code=muted.code, release=True)  # fmt: skip
    event = Event("muted", muted.reason, detail={"until": muted.until.isoformat()})
    return back_in_outbox(n.id, muted.until, event)


def _fault(out: Decision, n: Notification, exc: Exception) -> Change:
    text = one_line(exc)
    out.faults.append(Fault(n, ROUTE_ERROR, text, exc))
    return failed(n.id, ROUTE_ERROR, text, None)

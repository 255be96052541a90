"""What follows an outcome: the changes to write and the effects for the caller to apply.

After a send: sent, retry, throttled, the next channel, the channel paused, or failed.
NOTIFIER_MAX_ATTEMPTS counts tries on one channel: the next channel starts with none
counted, and a throttled send (the provider asked us to slow down) is no attempt at all.
After a
delivery report: delivered, read, the next channel, or only a history line. What an
outcome means for the customer's addresses and consent is decided here too; the shell
(``engine/delivery/sending.py``, ``store/deliveries.py``) applies it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.dispatch import THROTTLE_FLOOR, backoff, throttle_wait, throttled_for
from notifier.domain.durations import format_duration
from notifier.domain.models import (
    ChannelName,
    CustomerId,
    JSONValue,
    NotificationId,
    NotificationStatus,
)
from notifier.domain.outbox import SEND_ERROR, Change, Event, Notification, back_in_outbox, failed
from notifier.domain.outcomes import Outcome, OutcomeKind
from notifier.domain.routing import Send


@dataclass(frozen=True, slots=True)
class MarkUndeliverable:
    """The address failed hard: later notifications skip it on that channel."""

    customer_id: CustomerId
    channel: ChannelName
    address: str


@dataclass(frozen=True, slots=True)
class RecordOptOut:
    """The customer withdrew consent to the channel, as an inbound STOP does."""

    customer_id: CustomerId
    channel: ChannelName


@dataclass(frozen=True, slots=True)
class ChannelDown:
    """Our side of the channel is broken: pause it for everyone and tell ops."""

    channel: ChannelName
    reason: str


@dataclass(frozen=True, slots=True)
class Throttled:
    """The provider asked us to slow down: hold the channel's sender for ``retry_after``."""

    channel: ChannelName
    retry_after: timedelta


CustomerEffect = MarkUndeliverable | RecordOptOut
Effect = MarkUndeliverable | RecordOptOut | ChannelDown | Throttled


@dataclass(frozen=True, slots=True)
class AfterSend:
    """What a send-time outcome leads to: the rows' changes, then the effects to apply."""

    changes: tuple[Change, ...]
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True, slots=True)
class AfterReport:
    """What a delivery report leads to; ``delivered`` are the rows to stamp delivered_at."""

    changes: tuple[Change, ...]
    delivered: tuple[NotificationId, ...] = ()
    effects: tuple[CustomerEffect, ...] = ()


def after_send(
    n: Notification,
    route: Send,
    members: Sequence[Notification],
    outcome: Outcome,
    now: datetime,
    *,
    max_attempts: int,
    rng: random.Random,
) -> AfterSend:
    """Return what follows the outcome of sending ``n`` (with ``members`` folded in) on ``route``.

    An unexpected outcome is final: the provider may have taken the message before the
    error, and a resend would reach the customer twice.
    """
    kind = outcome.kind
    if kind is OutcomeKind.ACCEPTED:
        return AfterSend(tuple(_sent(n, route, members, outcome, now)))
    if kind is OutcomeKind.TRANSIENT:
        return _retry(n, route, members, outcome, now, max_attempts, rng)
    if kind is OutcomeKind.THROTTLED:
        return _throttled(n, route, members, outcome, now, rng)
    if kind is OutcomeKind.PERMANENT:
        effects = _customer_effects(n, route.channel, route.address, outcome)
        text = outcome.line + _notes(effects)
        return AfterSend(tuple(_next_channel(n, route, members, text, outcome, now)), effects)
    if kind is OutcomeKind.CHANNEL_DOWN:
        event = Event("channel_down", outcome.line, route.channel, {"code": outcome.code})
        changes = put_back(n, members, now, event, now)
        return AfterSend(tuple(changes), (ChannelDown(route.channel, outcome.line),))
    if kind is OutcomeKind.UNEXPECTED:
        text = outcome.text
        changes = [failed(n.id, SEND_ERROR, text, route.channel),
                   *unfold(n, members, now, failed_with=text, channel=route.channel)]  # fmt: skip
        return AfterSend(tuple(changes))
    raise ValueError(f"{kind} is a delivery report, not the outcome of a send")


def put_back(
    n: Notification, members: Sequence[Notification], at: datetime, event: Event, now: datetime
) -> list[Change]:
    """Return the changes that put ``n`` back in the outbox, due at ``at``, members unfolded."""
    return [back_in_outbox(n.id, at, event), *unfold(n, members, now, at)]


def unfold(
    n: Notification,
    members: Sequence[Notification],
    now: datetime,
    at: datetime | None = None,
    *,
    failed_with: str = "",
    channel: ChannelName | None = None,
) -> list[Change]:
    """Give the members of a message that did not go their own rows back.

    ``failed_with``: the message failed in a way that may have sent it; its members
    share that fate rather than risk a second message.
    """
    if failed_with:
        return [failed(m.id, SEND_ERROR, f"inside notification {n.id}: {failed_with}", channel)
                for m in members]  # fmt: skip
    reason = f"notification {n.id} did not go out; back in the outbox"
    return [
        back_in_outbox(m.id, at or now, Event("unfolded", reason), unfold=True) for m in members
    ]


def _sent(
    n: Notification, route: Send, members: Sequence[Notification], outcome: Outcome, now: datetime
) -> list[Change]:
    channel, pid = route.channel, outcome.provider_id
    detail: dict[str, JSONValue] = {"provider_id": pid, "status": outcome.status}
    changes = [
        Change(n.id, Event("sent", "accepted by the provider", channel, detail),
               NotificationStatus.SENT, provider_id=pid, sent_at=now, release=True)
    ]  # fmt: skip
    for m in members:
        reason = f"sent inside notification {n.id}"
        changes.append(
            Change(m.id, Event("sent", reason, channel, detail), NotificationStatus.SENT,
                   channel=channel, address=route.address, provider_id=pid, sent_at=now,
                   release=True)
        )  # fmt: skip
    return changes


def _retry(
    n: Notification,
    route: Send,
    members: Sequence[Notification],
    outcome: Outcome,
    now: datetime,
    max_attempts: int,
    rng: random.Random,
) -> AfterSend:
    attempts, text = n.attempts + 1, outcome.line
    if attempts >= max_attempts:
        text = f"gave up after {attempts} attempts: {text}"
        return AfterSend(tuple(_next_channel(n, route, members, text, outcome, now)))
    at = now + backoff(attempts, outcome.retry_after, rng)
    said = f"{text}; attempt {attempts} of {max_attempts} on {route.channel}"
    detail: dict[str, JSONValue] = {"code": outcome.code, "next_try": at.isoformat(),
                                    "attempt": attempts, "of": max_attempts}  # fmt: skip
    event = Event("retry", said, route.channel, detail)
    back = back_in_outbox(n.id, at, event, error_code=outcome.code, error=text)
    return AfterSend((back, *unfold(n, members, now, at)))


def _throttled(
    n: Notification,
    route: Send,
    members: Sequence[Notification],
    outcome: Outcome,
    now: datetime,
    rng: random.Random,
) -> AfterSend:
    """Back in the outbox after the provider's wait, the attempt given back, the channel kept."""
    asked = outcome.retry_after
    at = now + throttle_wait(asked, rng)
    wait = f"retry after {format_duration(asked)}" if asked is not None else "no retry-after given"
    text = f"{outcome.line}; {wait}; not counted as an attempt on {route.channel}"
    detail: dict[str, JSONValue] = {
        "code": outcome.code, "next_try": at.isoformat(),
        "retry_after": asked.total_seconds() if asked is not None else None,
    }  # fmt: skip
    back = Change(n.id, Event("throttled", text, route.channel, detail), NotificationStatus.PENDING,
                  not_before=at, attempts=n.attempts, release=True)  # fmt: skip
    # No wait named: the row waits the default, the sender only the floor.
    pause = Throttled(route.channel, throttled_for(asked or THROTTLE_FLOOR))
    return AfterSend((back, *unfold(n, members, now, at)), (pause,))


def _next_channel(
    n: Notification,
    route: Send,
    members: Sequence[Notification],
    text: str,
    outcome: Outcome,
    now: datetime,
) -> list[Change]:
    event = Event("failed_channel", text, route.channel, {"code": outcome.code})
    back = back_in_outbox(n.id, now, event, error_code=outcome.code, error=text,
                          fail_channel=route.channel)  # fmt: skip
    return [back, *unfold(n, members, now)]


def _customer_effects(
    n: Notification, channel: ChannelName, address: str | None, outcome: Outcome
) -> tuple[CustomerEffect, ...]:
    """Return what ``outcome`` means for the customer's addresses and consent.

    Only for a message to the customer: an ops notice went to ops' address, not theirs.
    """
    customer = n.customer_id
    if n.audience != "customer" or customer is None:
        return ()
    effects: list[CustomerEffect] = []
    if outcome.address_dead and address is not None:
        effects.append(MarkUndeliverable(customer, channel, address))
    if outcome.opted_out:
        effects.append(RecordOptOut(customer, channel))
    return tuple(effects)


def _notes(effects: Sequence[Effect]) -> str:
    """Return what the effects do, as the history line's tail."""
    notes = ""
    for e in effects:
        if isinstance(e, MarkUndeliverable):
            notes += f"; the address is marked undeliverable on {e.channel}"
        elif isinstance(e, RecordOptOut):
            notes += f"; the customer is opted out of {e.channel}"
    return notes


# Rows a delivery report may still change: the message is out, or we lost track of it.
_OPEN = frozenset({NotificationStatus.SENT, NotificationStatus.UNKNOWN})
_ARRIVED = frozenset({OutcomeKind.DELIVERED, OutcomeKind.READ})


def after_report(rows: Sequence[Notification], report: Outcome, now: datetime) -> AfterReport:
    """Return what a delivery report does to the rows sharing its provider id.

    Several rows share one provider id when notices went out folded into one message.
    A failure report sends the open rows to their next channel; a late or repeated
    report for rows that moved on is only a history line.
    """
    detail: dict[str, JSONValue] = {"provider_id": report.provider_id, "status": report.status}
    if report.code:
        detail["code"] = report.code
    moving = {n.id for n in rows if report.is_failure and n.status in _OPEN and n.channel}
    first = next((n for n in rows if n.id in moving), None)
    effects: tuple[CustomerEffect, ...] = ()
    if first is not None and first.channel is not None:
        effects = _customer_effects(first, first.channel, first.address, report)
    changes: list[Change] = []
    delivered: list[NotificationId] = []
    for n in rows:
        if n.id in moving:
            changes.append(_moved_on(n, report, detail, _notes(effects), now))
        elif report.kind in _ARRIVED and n.status in _OPEN:
            event = Event("delivered", f"the provider reports {report.status}", n.channel, detail)
            changes.append(Change(n.id, event, NotificationStatus.DELIVERED))
            delivered.append(n.id)
        elif report.kind in _ARRIVED and n.status is NotificationStatus.DELIVERED:
            if report.kind is OutcomeKind.READ:
                changes.append(Change(n.id, Event("read", "the recipient read it", n.channel)))
        else:
            reason = f"the provider reports {report.status}"
            if n.status not in _OPEN and (report.kind in _ARRIVED or report.is_failure):
                reason += f" (late: the notification is {n.status.value} already; nothing changes)"
            changes.append(Change(n.id, Event("provider_status", reason, n.channel, detail)))
    return AfterReport(tuple(changes), tuple(delivered), effects)


def _moved_on(
    n: Notification, report: Outcome, detail: dict[str, JSONValue], notes: str, now: datetime
) -> Change:
    reason = f"{report.text}{notes}; trying the next channel"
    return Change(
        n.id,
        Event(report.status or "undelivered", reason, n.channel, detail),
        NotificationStatus.PENDING,
        not_before=now,
        error_code=report.code,
        error=reason,
        fail_channel=n.channel,
        attempts=0,  # the next channel starts with none counted
        unfold=True,
        release=True,
    )

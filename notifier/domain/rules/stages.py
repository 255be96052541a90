"""The built-in stages of one rule for one promise: every moment it could speak.

A rule's timeline is its first stage (at risk, late, or a state change) followed by
its repeats, plus an escalation to ops. Each entry knows its nominal moment, the
instant quiet hours let it out (``at``), and its dedupe key; ``evaluate`` decides
which of them are due.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from notifier.domain.calendars import (
    BusinessDuration,
    add_business_time,
    subtract_business_time,
)
from notifier.domain.durations import format_duration
from notifier.domain.models import Customer, Promise, PromiseStatus
from notifier.domain.notices import SentLedger, Stage, dedupe_key
from notifier.domain.quiet_hours import QuietAction, quiet_until, zone
from notifier.domain.rules.model import ESCALATION_STEP, Offset, Rule
from notifier.domain.rules.trace import Skip

_STATUS_OF_EVENT = {
    "kept": PromiseStatus.KEPT,
    "broken": PromiseStatus.BROKEN,
    "cancelled": PromiseStatus.CANCELLED,
    "rescheduled": PromiseStatus.OPEN,
}


@dataclass(frozen=True, slots=True)
class Moment:
    rule: Rule
    stage: Stage
    step: int
    moment: datetime  # when the stage's condition (held for ``for``) became true
    at: datetime  # when quiet hours let it out
    live: bool  # False: it fell in quiet hours with ``action: drop``
    key: str
    promise: Promise
    note: str = ""  # a reason given up front (escalations); others are worded on demand

    @property
    def is_escalation(self) -> bool:
        """True for the internal notice to ops."""
        return self.step == ESCALATION_STEP

    @property
    def reason(self) -> str:
        """Why this moment speaks, in words for the notification's history."""
        # Worded only for the moments that become notices: the scan looks at many more.
        return self.note or _reason(self.rule, self.promise, self.stage, self.step, self.moment)


class Skipped(Protocol):
    """Told of each step that does not apply to the promise, and why (for a trace)."""

    def __call__(self, moment: Moment, why: Skip, /) -> None: ...


def timeline(
    rule: Rule,
    promise: Promise,
    customer: Customer,
    horizon: datetime | None = None,
    sent: SentLedger | None = None,
    skipped: Skipped | None = None,
) -> list[Moment]:
    """Return the rule's customer moments for this promise and deadline version, by step.

    With a ``horizon``, the timeline stops at the first moment after it that is live and
    not in ``sent``: steps only get later, so nothing beyond it can be due or come sooner.
    ``skipped``, when given, hears of the steps left out because they do not apply.
    """
    first = _first_moment(rule, promise, customer)
    if first is None:
        return []
    out = []
    for m in _steps(rule, promise, customer, first):
        why = _inapplicable(m, rule, promise)
        if why is not None:
            if skipped is not None:
                skipped(m, why)
            continue
        out.append(m)
        if horizon is not None and m.at > horizon and m.live and not (sent and sent.has(m.key)):
            break
    return out


def _first_moment(rule: Rule, promise: Promise, customer: Customer) -> datetime | None:
    when = rule.when
    if when.trigger == "before_due":
        anchor = promise.window_start or promise.due_at
        return _shift(anchor, when.offset, rule, customer, backwards=True)
    if when.trigger == "overdue":
        return _shift(promise.due_at, when.offset, rule, customer, backwards=False)
    return promise.status_changed_at


def _shift(
    start: datetime, offset: Offset, rule: Rule, customer: Customer, *, backwards: bool
) -> datetime:
    if isinstance(offset, BusinessDuration):
        calendar = rule.calendar.for_customer(customer.home_country)
        tz = zone(calendar.timezone or customer.timezone)
        if backwards:
            return subtract_business_time(start, offset, calendar, tz)
        return add_business_time(start, offset, calendar, tz)
    return (start - offset if backwards else start + offset).astimezone(UTC)


def _steps(rule: Rule, promise: Promise, customer: Customer, first: datetime) -> Iterator[Moment]:
    repeat = rule.notify.repeat
    count = repeat.max if repeat is not None else 0
    every = repeat.every if repeat is not None else timedelta(0)
    base = _base_stage(rule)
    for step in range(count + 1):
        moment = first + step * every + rule.when.hold
        stage: Stage = base if step == 0 else "repeat"
        yield _moment(rule, promise, customer, stage, step, moment)


def _base_stage(rule: Rule) -> Stage:
    when = rule.when
    if when.trigger == "before_due":
        return "at_risk"
    if when.trigger == "overdue":
        return "late"
    assert when.event is not None
    return when.event


def _inapplicable(m: Moment, rule: Rule, promise: Promise) -> Skip | None:
    """Return why the step does not apply to the promise as it stands, or None if it does."""
    when = rule.when
    if when.trigger == "before_due":
        # At risk only while the deadline is still ahead: after it the promise is late.
        if promise.status is not PromiseStatus.OPEN:
            return "not_open"
        return None if m.moment < promise.due_at else "past_deadline"
    if when.trigger == "overdue":
        return None if promise.status in (PromiseStatus.OPEN, PromiseStatus.BROKEN) else "settled"
    assert when.event is not None
    if when.event == "rescheduled" and promise.deadline_version <= 1:
        return "never_rescheduled"
    return None if promise.status is _STATUS_OF_EVENT[when.event] else "other_status"


def _moment(
    rule: Rule, promise: Promise, customer: Customer, stage: Stage, step: int, moment: datetime
) -> Moment:
    quiet = rule.notify.quiet_hours
    at, live = moment, True
    if quiet is not None:
        until = quiet_until(moment, quiet, zone(customer.timezone))
        if until is not None and quiet.action is QuietAction.DEFER:
            at = until
        elif until is not None and quiet.action is QuietAction.DROP:
            live = False
    key = dedupe_key(rule.id, promise.id, promise.deadline_version, step)
    return Moment(rule, stage, step, moment, at, live, key, promise)


def _reason(rule: Rule, promise: Promise, stage: Stage, step: int, moment: datetime) -> str:
    when = rule.when
    offset = (
        when.offset if isinstance(when.offset, BusinessDuration) else format_duration(when.offset)
    )
    if stage == "at_risk":
        anchor = promise.window_start or promise.due_at
        ahead = format_duration(anchor - moment)
        what = f"at risk: {ahead} before the deadline (before_due: {offset})"
    elif stage == "late":
        what = f"late by {format_duration(moment - promise.due_at)} (overdue: {offset})"
    elif stage == "repeat" and rule.notify.repeat is not None:
        every = format_duration(rule.notify.repeat.every)
        what = f"repeat {step} of {rule.notify.repeat.max} (every {every})"
    else:
        what = f"promise {stage} at {promise.status_changed_at.astimezone(UTC).isoformat()}"
    return f"{what}, rule {rule.id}"


def escalation(
    rule: Rule, promise: Promise, customer: Customer, reached: int | None
) -> Moment | None:
    """Return the rule's escalation to ops, if it is due for a promise still not kept.

    ``reached`` is the highest step already sent or due now: steps skipped because a
    later one superseded them count, so a daemon down for days escalates as if it had
    spoken every time, and in the same evaluation as the notice that completes the count.
    """
    escalate = rule.escalate
    if escalate is None or promise.is_settled:
        return None
    candidates: list[tuple[datetime, str]] = []
    if escalate.broken is not None and promise.times_broken >= escalate.broken:
        candidates.append((promise.status_changed_at, f"broken {promise.times_broken} times"))
    if escalate.after is not None and reached is not None and reached + 1 >= escalate.after:
        first = _first_moment(rule, promise, customer) or promise.status_changed_at
        every = rule.notify.repeat.every if rule.notify.repeat else timedelta(0)
        step = _moment(
            rule, promise, customer, "repeat", reached, first + reached * every + rule.when.hold
        )
        candidates.append((step.at, f"{reached + 1} notices and still not kept"))
    if not candidates:
        return None
    moment, why = min(candidates)
    key = dedupe_key(rule.id, promise.id, promise.deadline_version, ESCALATION_STEP)
    reason = f"escalated to {escalate.to}: {why}, rule {rule.id}"
    return Moment(rule, "escalated", ESCALATION_STEP, moment, moment, True, key, promise, reason)

"""What the scan decides for due promises, and which notices wait to go out together.

Planning a batch is two pure steps with one read between them, the same in the daemon's
scan and in ``simulate``: ``plan_due`` (changes and notices), then the store's or the
simulation's ``next_checks`` for ``Planned.lookahead()``, then ``schedule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.errors import one_line
from notifier.domain.models import CustomerId, PlanError, PromiseId, PromiseStatus
from notifier.domain.notices import LATE_STAGES, Notice
from notifier.domain.outbox import DuePromise, PromiseChange, Scheduled
from notifier.domain.rules.evaluate import evaluate
from notifier.domain.rules.model import RuleSet
from notifier.domain.rules.trace import Recorder

# A rule set that keeps answering "now" must not spin the scan: look again a little later.
MIN_RECHECK = timedelta(minutes=1)
# A promise the rules cannot plan is looked at again after 1 min, 2, 4 ... at most 1 h: a
# fixed rule (reload) or an edit gets it planned again soon, a lasting fault costs little.
PLAN_RETRY_FIRST = timedelta(minutes=1)
PLAN_RETRY_MAX = timedelta(hours=1)
# Per customer, the next checks of their promises: (promise, when).
Checks = Mapping[CustomerId, Sequence[tuple[PromiseId, datetime]]]


@dataclass(frozen=True, slots=True)
class Lookahead:
    """The one read between planning and scheduling: these customers' checks in (after, until].

    Answered by ``next_checks(customer_ids, after, until)``, which leaves out promises in
    plan error (their next check gives no notice).
    """

    customer_ids: list[CustomerId]
    after: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch of due promises, planned: each one's change and the notices due now."""

    changes: list[PromiseChange]
    notices: list[Notice]

    def lookahead(self, now: datetime, window: timedelta) -> Lookahead | None:
        """Return the read ``schedule`` needs, or None when there is no notice to hold."""
        if not self.notices:
            return None
        return Lookahead(list({n.customer_id for n in self.notices}), now, now + window)

    def checks(self) -> dict[CustomerId, list[tuple[PromiseId, datetime]]]:
        """Return the new checks this batch sets, per customer; none for a plan error."""
        found: dict[CustomerId, list[tuple[PromiseId, datetime]]] = {}
        for c in self.changes:
            # A promise in plan error gives no notice at its next check: nothing waits for it.
            if c.next_check_at is not None and c.error is None:
                found.setdefault(c.promise.customer_id, []).append((c.promise.id, c.next_check_at))
        return found


def plan_due(due: Sequence[DuePromise], rules: RuleSet, now: datetime) -> Planned:
    """Return what each promise of ``due`` needs at ``now``, in order (see ``plan_promise``)."""
    changes: list[PromiseChange] = []
    notices: list[Notice] = []
    for d in due:
        change, found = plan_promise(d, rules, now)
        changes.append(change)
        notices.extend(found)
    return Planned(changes, notices)


def schedule(
    planned: Planned,
    stored: Checks,
    window: timedelta,
    now: datetime,
    earlier: Checks | None = None,
) -> list[Scheduled]:
    """Return the planned notices to write, each held while its customer has a check soon.

    ``stored`` answers ``planned.lookahead``; ``earlier`` holds the checks that earlier
    batches of the same tick set, whose writes may not have landed yet. The batch's own
    new checks count too.
    """
    if not planned.notices:
        return []
    own = planned.checks()
    earlier = earlier or {}
    upcoming = {
        cid: [*stored.get(cid, ()), *earlier.get(cid, ()), *own.get(cid, ())]
        for cid in {n.customer_id for n in planned.notices}
    }
    return hold_for_company(planned.notices, upcoming, window, now)


def plan_promise(
    due: DuePromise, rules: RuleSet, now: datetime, recorder: Recorder | None = None
) -> tuple[PromiseChange, list[Notice]]:
    """Return the promise's new state and the notices due for it now.

    An open promise past its deadline breaks first, so ``on: broken`` rules see it. A
    promise the rules fail on (a value no rule can compute with: a year-9999 deadline, a
    hand-made row) gets a plan error and a later check instead: it never stops the scan.
    A ``recorder`` hears what the rules made of the promise (see ``rules.trace``); a
    forgotten customer's promise is not evaluated, so it hears nothing.
    """
    try:
        return _plan(due, rules, now, recorder)
    except Exception as exc:  # any fault in one promise's values must stay with it
        return failed_plan(due, rules, now, exc), []


def plan_retry_after(failures: int) -> timedelta:
    """Return how long to wait before planning again after ``failures`` failures in a row."""
    if failures >= 8:  # 2**7 min is past the cap already; no huge powers
        return PLAN_RETRY_MAX
    doubled: timedelta = PLAN_RETRY_FIRST * (1 << max(failures - 1, 0))
    return min(doubled, PLAN_RETRY_MAX)


def failed_plan(due: DuePromise, rules: RuleSet, now: datetime, exc: Exception) -> PromiseChange:
    """Return the change for a promise whose plan raised ``exc``: its error, a later check.

    The promise is otherwise left as it was (not broken, nothing sent): nothing about it
    could be decided.
    """
    rule, error = _fault(due, rules, now, exc)
    reason = f"rule {rule}: {one_line(error)}" if rule else one_line(error)
    previous = due.promise.plan_error
    count = previous.count + 1 if previous else 1
    since = previous.since if previous else now
    state = PlanError(rule, reason, count, since)
    report = previous is None or previous.reason != reason
    return PromiseChange(due.promise, now + plan_retry_after(count), error=state, report=report)


def _fault(
    due: DuePromise, rules: RuleSet, now: datetime, exc: Exception
) -> tuple[str | None, Exception]:
    """Return the first rule that fails on its own for this promise, with its exception.

    None when no rule fails alone: the fault is in the promise itself, or in how the
    rules combine.
    """
    try:
        kinds = rules.for_kind(due.promise.kind)
    except Exception:
        return None, exc
    for rule in kinds:
        try:
            _plan(due, RuleSet((rule,), rules.defaults), now)
        except Exception as found:
            return rule.id, found
    return None, exc


def _plan(
    due: DuePromise, rules: RuleSet, now: datetime, recorder: Recorder | None = None
) -> tuple[PromiseChange, list[Notice]]:
    promise = due.promise
    broken = promise.status is PromiseStatus.OPEN and promise.due_at <= now
    if broken:
        promise = promise.broken_at(now)
    if due.customer.forgotten:
        return PromiseChange(due.promise, None, broken), []
    notices, upcoming = evaluate(promise, due.customer, rules, due.sent, now, recorder)
    if upcoming is not None and upcoming <= now:
        upcoming = now + MIN_RECHECK
    return PromiseChange(due.promise, upcoming, broken), notices


def hold_for_company(
    notices: Sequence[Notice],
    upcoming: Mapping[CustomerId, Sequence[tuple[PromiseId, datetime]]],
    window: timedelta,
    now: datetime,
) -> list[Scheduled]:
    """Return the notices to schedule; one waits when its customer has another check soon.

    ``upcoming`` holds, per customer, the next checks of their promises: when another
    promise of the same customer is checked within the consolidation window, a notice may
    come from it, and both then go as one message. A lone notice goes at once; critical
    notices, notices to ops and notices that do not say "late" (they never go together)
    never wait.
    """
    scheduled = []
    for n in notices:
        soon = [
            at
            for pid, at in upcoming.get(n.customer_id, ())
            if pid != n.promise_id and now < at <= now + window
        ]
        if (
            soon
            and n.audience == "customer"
            and n.priority != "critical"
            and n.stage in LATE_STAGES
        ):
            until = max(soon)
            reason = f"waiting until {until.isoformat()} to go with the customer's other notice"
            scheduled.append(Scheduled(n, until, reason))
        else:
            scheduled.append(Scheduled(n, max(n.not_before, now)))
    return scheduled

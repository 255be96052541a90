"""What the scan decides for one due promise, and which notices wait to go out together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from notifier.domain.models import CustomerId, PromiseId, PromiseStatus
from notifier.domain.notices import Notice
from notifier.domain.outbox import DuePromise, PromiseChange, Scheduled
from notifier.domain.rules.evaluate import evaluate
from notifier.domain.rules.model import RuleSet

# A rule set that keeps answering "now" must not spin the scan: look again a little later.
MIN_RECHECK = timedelta(minutes=1)


def plan_promise(
    due: DuePromise, rules: RuleSet, now: datetime
) -> tuple[PromiseChange, list[Notice]]:
    """Return the promise's new state and the notices due for it now.

    An open promise past its deadline breaks first, so ``on: broken`` rules see it.
    """
    promise = due.promise
    broken = promise.status is PromiseStatus.OPEN and promise.due_at <= now
    if broken:
        promise = promise.broken_at(now)
    if due.customer.forgotten:
        return PromiseChange(due.promise, None, broken), []
    notices, upcoming = evaluate(promise, due.customer, rules, due.sent, now)
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
    notices and notices to ops never wait.
    """
    scheduled = []
    for n in notices:
        soon = [
            at
            for pid, at in upcoming.get(n.customer_id, ())
            if pid != n.promise_id and now < at <= now + window
        ]
        if soon and n.audience == "customer" and n.priority != "critical":
            until = max(soon)
            reason = f"waiting until {until.isoformat()} to go with the customer's other notice"
            scheduled.append(Scheduled(n, until, reason))
        else:
            scheduled.append(Scheduled(n, max(n.not_before, now)))
    return scheduled

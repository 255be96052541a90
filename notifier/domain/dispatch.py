"""The dispatcher's decisions that need no I/O: still true?, how long to back off, the cap."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from notifier.domain.models import Promise, PromiseStatus
from notifier.domain.outbox import Notification

# Stages that speak of a promise still unkept; a kept or cancelled promise makes them moot.
_WHILE_UNKEPT = frozenset({"at_risk", "late", "repeat", "escalated", "broken"})
_SETTLED = {"kept": PromiseStatus.KEPT, "cancelled": PromiseStatus.CANCELLED}
BASE_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=1)
# A throttled send waits what the provider asked, never less than the floor; when it
# asked nothing, the default. The jitter on top spreads the rows throttled together.
THROTTLE_FLOOR = timedelta(seconds=1)
THROTTLE_DEFAULT = timedelta(seconds=5)
THROTTLE_JITTER = 0.2  # up to a fifth more
# The longest a provider's wait is honoured: a Retry-After of days (or garbage) must not
# park a row, or a whole channel, past it; the row simply asks again then.
THROTTLE_MAX = timedelta(hours=1)
DAY = timedelta(hours=24)


def moot_reason(n: Notification, promise: Promise | None) -> str | None:
    """Return why the notice no longer holds at send time, or None when it still does."""
    if n.promise_id is None:
        return None
    if promise is None:
        return "the promise no longer exists"
    if n.stage in _WHILE_UNKEPT:
        if promise.status in (PromiseStatus.KEPT, PromiseStatus.CANCELLED):
            return f"the promise was {promise.status.value} after this was scheduled"
        if promise.deadline_version != n.deadline_version:
            return (
                "the promise was rescheduled after this was scheduled; the new deadline is watched"
            )
    elif n.stage in _SETTLED and promise.status is not _SETTLED[n.stage]:
        return f"the promise is {promise.status.value} again"
    elif n.stage == "rescheduled" and promise.deadline_version != n.deadline_version:
        return "the promise was rescheduled again; the newer change is the one to tell"
    return None


def backoff(attempts: int, retry_after: timedelta | None, rng: random.Random) -> timedelta:
    """Return the wait before the next try: exponential, jittered, never under Retry-After."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(0, attempts - 1)))
    wait = timedelta(seconds=rng.uniform(ceiling.total_seconds() / 2, ceiling.total_seconds()))
    return max(wait, retry_after) if retry_after is not None else wait


def throttle_wait(retry_after: timedelta | None, rng: random.Random) -> timedelta:
    """Return the wait before a throttled send goes again: never sooner than Retry-After.

    The same whatever the row's attempts: throttling is not the row's failure.
    """
    base = throttled_for(retry_after)
    return base + base * rng.uniform(0.0, THROTTLE_JITTER)


def throttled_for(retry_after: timedelta | None) -> timedelta:
    """Return the provider's wait as honoured: the default when none, within floor and max."""
    asked = THROTTLE_DEFAULT if retry_after is None else retry_after
    return min(max(asked, THROTTLE_FLOOR), THROTTLE_MAX)


def capped_until(sent: Sequence[datetime], cap: int, now: datetime) -> datetime | None:
    """Return when the customer may get another proactive message, or None if they may now.

    ``sent`` holds when their messages went out; at most ``cap`` in any 24 hours.
    """
    recent = sorted(at for at in sent if at > now - DAY)
    if cap <= 0 or len(recent) < cap:
        return None
    return recent[len(recent) - cap] + DAY

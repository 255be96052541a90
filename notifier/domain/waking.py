"""When the daemon looks next: at the earliest check or send it knows, not on a fixed tick.

The scan wakes at the earliest ``next_check_at`` and the dispatcher at the earliest
``not_before``; the scan interval and the dispatcher's safety poll only bound how long a
change nobody announced can go unseen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# A check still due after a scan (the scan could not move it, or another replica is
# scanning) is looked at again this much later: soon, yet never in a loop.
RETRY = timedelta(seconds=1)


def next_scan_at(
    earliest: datetime | None, began: datetime, now: datetime, *, skipped: bool
) -> datetime | None:
    """When to scan next, given the earliest check after a scan that began at ``began``.

    None when no promise waits for a check (the interval's tick will do). A check due
    before the scan began and still there, or any due check after a skipped scan, waits
    ``RETRY``; a check that fell due while the scan ran is due at once.
    """
    if earliest is None:
        return None
    if skipped or earliest <= began:
        return max(earliest, now + RETRY)
    return earliest


def not_sooner(at: datetime, began: datetime | None, done: datetime | None) -> datetime:
    """``at``, or ``RETRY`` after the last scan when that scan saw it due and left it.

    ``began`` and ``done`` bound the last scan. A check it left due (it could not move it)
    is not worth a scan the moment somebody mentions it again: no loop of scans.
    """
    if began is not None and done is not None and at <= began:
        return max(at, done + RETRY)
    return at


def idle_wait(
    earliest: datetime | None, now: datetime, *, due_poll: timedelta, safety: timedelta
) -> timedelta:
    """How long an idle dispatcher waits, given the earliest pending send.

    Until that send is due, at most ``safety``; ``due_poll`` when it is due already yet
    was not claimed (its rule paused, its customer held by another replica).
    """
    if earliest is None:
        return safety
    wait = earliest - now
    if wait <= timedelta(0):
        return due_poll
    return min(wait, safety)

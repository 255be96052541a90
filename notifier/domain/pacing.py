"""A sender's rate as a "theoretical arrival time" (GCRA): the slot each grant goes at.

One bucket per channel and sender holds ``tat``, the earliest instant the next grant may
go; a grant of ``cost`` tokens goes at ``slot = max(tat, now, blocked_until)`` and moves
``tat`` to ``slot + cost / per_second``. Slots are therefore never closer than the rate
allows, whoever asks and however many ask: in any 1-second window the granted cost is at
most the rate plus one grant (the last one in the window). No burst is saved while idle
(``max(tat, now)``): providers count per second. ``blocked_until`` is set by a provider's
``Retry-After``; the daily quota counts messages per UTC day.

The store runs the same arithmetic in one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` (``store/rate_buckets.py``); this module is its specification, and the
in-process bucket's. Instants are seconds since the epoch (floats): every replica, and the
database, count them alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

DAY_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class BucketState:
    tat: float = 0.0  # the earliest instant the next grant may go
    blocked_until: float = 0.0  # a provider asked everyone to wait until then
    day: int = 0  # the UTC day (days since the epoch) ``day_count`` counts
    day_count: int = 0  # messages granted that day


@dataclass(frozen=True, slots=True)
class Reservation:
    """A grant's answer: its slot, or (quota spent) when to ask again; and the bucket's now."""

    slot: float | None  # the instant the grant may go; None: refused for the daily quota
    now: float  # the instant the bucket was asked at (the caller sleeps ``slot - now``)
    retry_at: float | None = None  # refused: the next UTC day's start

    @property
    def wait(self) -> float:
        """Seconds to wait before going (0 when the slot is now or past; 0 when refused)."""
        return 0.0 if self.slot is None else max(0.0, self.slot - self.now)


def day_of(at: float) -> int:
    """The UTC day ``at`` falls on, in days since the epoch."""
    return math.floor(at / DAY_SECONDS)


def next_day(at: float) -> float:
    """The start of the UTC day after the one ``at`` falls on."""
    return (day_of(at) + 1) * DAY_SECONDS


def reserve(
    state: BucketState,
    cost: float,
    per_second: float,
    now: float,
    *,
    count: int = 1,
    per_day: int | None = None,
) -> tuple[BucketState, Reservation]:
    """Grant ``cost`` tokens (``count`` messages) from ``state`` at ``now``.

    Return the new state and the reservation; refused (state unchanged) when the daily
    quota has no room for ``count`` more messages today.
    """
    if per_second <= 0:
        raise ValueError("a rate must be greater than zero")
    today = day_of(now)
    used = state.day_count if state.day == today else 0
    if per_day is not None and used + count > per_day:
        return state, Reservation(None, now, next_day(now))
    slot = max(state.tat, now, state.blocked_until)
    new = BucketState(slot + cost / per_second, state.blocked_until, today, used + count)
    return new, Reservation(slot, now)


def throttle(state: BucketState, now: float, retry_after: float) -> BucketState:
    """Return ``state`` with no grant before ``now + retry_after`` (a provider's 429)."""
    return replace(state, blocked_until=max(state.blocked_until, now + max(0.0, retry_after)))


def share(slot: float, costs: list[float], per_second: float) -> list[float]:
    """Split one grant of ``sum(costs)`` at ``slot`` into each cost's own slot, in order.

    The slots are those separate grants would have had: one round trip, the same pacing.
    """
    slots: list[float] = []
    at = slot
    for cost in costs:
        slots.append(at)
        at += cost / per_second
    return slots

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

**The bound at departure, across processes.** The slots alone do not bound what the
provider sees: a process woken late sends its granted request late, beside another
process's on-time ones. Two rules make the bound hold where the requests leave:

- *the margin*: the bucket grants at ``spaced(rate)``, at most
  ``(floor(rate) + 1) / (1 + LATENESS)`` tokens a second and never above the rate
  (99.0% of it at 100/s, all of it at 50/s or less, 98.1% at 1,000/s);
- *the fence*: a request leaves at its slot or later, but no later than ``LATENESS``
  after it; one that would (its process woke late, its attempt write was slow) gives
  the slot up, lost to everyone, and takes a new one.

Then any 1-second window ``[t, t + 1)`` of departures holds at most the rate plus one
message. Its departures' slots lie in ``(t - LATENESS, t + 1)``, an interval shorter
than ``1 + LATENESS``; slots ``s_a < ... < s_b`` in it, spaced at least ``c_k / r``
apart (``r = spaced(rate)``), have ``sum(c_a .. c_{b-1}) / r <= s_b - s_a < 1 +
LATENESS``, so ``sum(c_a .. c_{b-1}) < r (1 + LATENESS) <= floor(rate) + 1``. Costs are
whole numbers, so that sum is at most ``floor(rate)`` and the window holds at most
``rate + c_b``: the rate plus one message (its segments, for SMS). Lost slots only
remove departures. ``tests/unit/test_ratelimit_math.py`` checks it by property.

"Its slot" is on the database's clock, which each process sees only through its
reservations: the database took its ``now`` while the statement ran, so
``local - database`` lies within ``[asked - now, answered - now]`` of every answer.
``ClockBounds`` keeps the intersection over the last ``CLOCK_HORIZON`` seconds and
``departure`` turns a slot into the local instants ``[slot + high, slot + low +
LATENESS]``: never before the slot, never past the fence, whatever that offset really
is (the uncertainty ``high - low``, a millisecond or two on one host, comes off the
fence's allowance). What stays beyond our control is the transit after a request
leaves: the HTTP or SMTP client's own work, the network and the provider's stamping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

DAY_SECONDS = 86400.0
# The fence: a request leaves no later than this after its slot, else takes a new slot;
# the bucket's margin is the same. 20 ms: an event loop on a loaded 2-core machine wakes
# late by a few ms, rarely by more; the price is at most 2% of the rate (``spaced``).
LATENESS = 0.02  # seconds
CLOCK_HORIZON = 10.0  # seconds: the answers the clock bounds are taken from


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
    # The asker's own clock just before the statement went and once it was answered: the
    # bucket's ``now`` was taken between the two (``ClockBounds``). None: not measured.
    asked: float | None = None
    answered: float | None = None

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
    lead: float = 0.0,
) -> tuple[BucketState, Reservation]:
    """Grant ``cost`` tokens (``count`` messages) from ``state`` at ``now``.

    Return the new state and the reservation; refused (state unchanged) when the daily
    quota has no room for ``count`` more messages today. ``lead``: the slot is no sooner
    than that after ``now`` (the asker writes its attempt meanwhile).
    """
    if per_second <= 0:
        raise ValueError("a rate must be greater than zero")
    today = day_of(now)
    used = state.day_count if state.day == today else 0
    if per_day is not None and used + count > per_day:
        return state, Reservation(None, now, next_day(now))
    slot = max(state.tat, now + max(0.0, lead), state.blocked_until)
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


def spaced(per_second: float, lateness: float = LATENESS) -> float:
    """The rate the bucket grants at for ``per_second`` at departure: the fence's margin.

    Costs are whole (messages, SMS segments), so the window's cost before its last grant
    only has to stay below ``floor(per_second) + 1``: slots spaced at that divided by
    ``1 + lateness`` suffice, and never closer than the rate itself (the module's proof).
    At 100/s that is 99.0/s; at 50/s or less, the rate itself.
    """
    whole = (math.floor(per_second) + 1.0) / (1.0 + lateness) * (1.0 - 1e-9)
    return min(per_second, whole)


@dataclass(frozen=True, slots=True)
class Departure:
    """When a granted request may leave, on the asker's clock: from ``earliest`` to ``latest``.

    Empty (``latest < earliest``) while the clock is known no better than the fence.
    """

    earliest: float
    latest: float


@dataclass
class ClockBounds:
    """What one process knows of its clock's offset: ``low <= local - database <= high``.

    Each answer bounds it (``observe``); the bounds are the intersection of the answers
    of the last ``horizon`` seconds (clocks drift, slowly), the newest alone when they
    disagree (a clock was stepped).
    """

    horizon: float = CLOCK_HORIZON
    _answers: deque[tuple[float, float, float]] = field(default_factory=deque)
    low: float = -math.inf
    high: float = math.inf

    def observe(self, asked: float, db_now: float, answered: float) -> None:
        """Take in one answer: ``db_now`` was read between ``asked`` and ``answered``."""
        if answered < asked:
            raise ValueError("an answer cannot come before its question")
        self._answers.append((answered, asked - db_now, answered - db_now))
        while self._answers[0][0] < answered - self.horizon:
            self._answers.popleft()
        low = max(a[1] for a in self._answers)
        high = min(a[2] for a in self._answers)
        if low > high:  # they disagree: the newest answer alone
            self._answers = deque([self._answers[-1]])
            low, high = self._answers[0][1], self._answers[0][2]
        self.low, self.high = low, high

    def departure(self, slot: float, lateness: float = LATENESS) -> Departure:
        """The local instants a request granted ``slot`` (the bucket's clock) may leave within."""
        return Departure(slot + self.high, slot + self.low + lateness)

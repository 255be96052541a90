"""Rate limits per sender: the backlog waits in our outbox, never in the provider's queue.

``ClusterLimiter`` is the daemon's: one bucket per channel and sender in the database,
shared by every replica, granting at the fence's margin below the rate; the sender holds
each request to its ``Departure`` (``domain/pacing.py`` proves the bound it gives).
``TokenBucket`` is the pacing in one process, for callers that have no store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from notifier.config import RateSettings
from notifier.domain.models import ChannelName
from notifier.domain.pacing import ClockBounds, Departure, share, spaced
from notifier.engine.delivery.ports import RateStore


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float  # sustained rate (SMS: segments, others: messages)
    burst: float = 1.0  # what may go at once after a quiet spell
    per_day: int | None = None  # a provider quota (X direct messages)


def rates(s: RateSettings) -> dict[ChannelName, Rate]:
    """Return each channel's sender rate from the settings.

    No burst: a bucket that saved up a second's worth of tokens would let twice the rate
    through in the next second, and providers count per second.
    """
    return {
        "sms": Rate(s.rate_sms),
        "whatsapp": Rate(s.rate_whatsapp),
        "email": Rate(s.rate_email),
        "x": Rate(s.rate_x, per_day=s.x_daily_quota),
    }


class TokenBucket:
    """Grants ``cost`` tokens at ``rate.per_second``, never more, whatever the concurrency.

    Each caller is given its slot in arrival order (a theoretical send time that advances
    by cost / rate) and sleeps until it: the slots are never closer than the rate allows,
    and a caller woken late by the event loop does not push every later slot back, so the
    long-run rate holds too. At most ``burst`` tokens may be saved up while idle.
    """

    def __init__(self, rate: Rate, now: Callable[[], float] = time.monotonic) -> None:
        if rate.per_second <= 0:
            raise ValueError("a rate must be greater than zero")
        self.rate = rate
        self._now = now
        # The earliest instant the next token may be taken; the bucket starts full.
        self._next = now() - (max(rate.burst, 1.0) - 1.0) / rate.per_second
        self._lock = asyncio.Lock()
        self._day_start = now()
        self._day_count = 0
        self.paused_until = float("-inf")  # the provider asked us to wait until then

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are available, then take them.

        A caller whose slot falls inside a pause (``throttle``) takes a new slot after it.
        """
        async with self._lock:
            await self._take_daily()
            slot = self._slot(cost)
        while True:
            now = self._now()
            if slot > now:
                await asyncio.sleep(slot - now)
            if self._now() >= self.paused_until:
                return
            async with self._lock:
                slot = self._slot(cost)

    def _slot(self, cost: float) -> float:
        now = self._now()
        saved = (max(self.rate.burst, 1.0) - 1.0) / self.rate.per_second
        slot = max(self._next, now - saved, self.paused_until)
        self._next = slot + cost / self.rate.per_second
        return slot

    def throttle(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (the provider said so), then resume the rate."""
        self.paused_until = max(self.paused_until, self._now() + seconds)

    async def _take_daily(self) -> None:
        if self.rate.per_day is None:
            return
        if self._now() - self._day_start >= 86400:
            self._day_start, self._day_count = self._now(), 0
        if self._day_count >= self.rate.per_day:
            await asyncio.sleep(86400 - (self._now() - self._day_start))
            self._day_start, self._day_count = self._now(), 0
        self._day_count += 1

    def seconds_until_quota(self) -> float:
        """Return how long until the daily quota allows another send (0 when it does)."""
        if self.rate.per_day is None or self._day_count < self.rate.per_day:
            return 0.0
        return max(0.0, 86400 - (self._now() - self._day_start))


DEFAULT_SENDER = "default"  # one bucket per channel: the account every replica sends as
# A batch of waiters is reserved in one round trip, at most this far ahead: slots reserved
# by a process that then stops are lost to the cluster, so none is reserved much early.
AHEAD = 0.25  # seconds


@dataclass
class _Waiter:
    cost: float
    granted: asyncio.Future[Departure | None]  # None: refused, the daily quota is spent


class ClusterLimiter:
    """The ``RateLimiter`` over the store's rate buckets (``store/rate_buckets.py``).

    Waiters of one sender queue here in arrival order; one task per sender reserves the
    next of them in one round trip (several when the rate allows more than one within
    ``AHEAD``, one at a time where a daily quota counts messages), hands each its
    ``Departure``, and reserves the next batch when this one's slots are close. Slots
    are the database's, spaced at ``spaced(rate)``; ``clock`` turns them into this
    process's instants. ``lead``: how far ahead of now a slot must be for the caller to
    write its attempt before it (the sender's recent attempt writes).
    """

    def __init__(
        self,
        store: RateStore,
        rates: Mapping[ChannelName, Rate],
        lead: Callable[[], float] = lambda: 0.0,
    ) -> None:
        for rate in rates.values():
            if rate.per_second <= 0:
                raise ValueError("a rate must be greater than zero")
        self.store = store
        self.rates = dict(rates)
        self.clock = ClockBounds()
        self.lead = lead
        self._queues: dict[tuple[ChannelName, str], list[_Waiter]] = {}
        self._refused: dict[tuple[ChannelName, str], datetime] = {}
        self._tasks: dict[tuple[ChannelName, str], asyncio.Task[None]] = {}

    async def acquire(self, channel: ChannelName, sender: str, cost: float) -> Departure | datetime:
        """Reserve ``cost`` tokens of ``channel``'s rate; see ``RateLimiter``."""
        key = (channel, sender)
        refused = self._refused.get(key)
        if refused is not None and refused > datetime.now(UTC):
            return refused
        waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
        self._queues.setdefault(key, []).append(waiter)
        task = self._tasks.get(key)
        if task is None or task.done():
            self._tasks[key] = asyncio.create_task(self._reserve(key))
        granted = await waiter.granted
        return self._refused[key] if granted is None else granted

    async def throttle(self, channel: ChannelName, sender: str, retry_after: timedelta) -> None:
        """Hold every replica's grants of ``channel`` back for ``retry_after``."""
        await self.store.throttle_rate(channel, sender, retry_after.total_seconds())

    async def _reserve(self, key: tuple[ChannelName, str]) -> None:
        channel, sender = key
        rate = self.rates[channel]
        per_second = spaced(rate.per_second)  # the fence's margin
        queue = self._queues[key]
        while True:
            queue[:] = [w for w in queue if not w.granted.done()]  # the cancelled left
            if not queue:
                return
            batch = _take(queue, rate.per_day, per_second)
            costs = [w.cost for w in batch]
            asked = time.time()
            try:
                r = await self.store.reserve_rate(
                    channel, sender, sum(costs), per_second,
                    count=len(batch), per_day=rate.per_day, lead=self.lead(),
                )  # fmt: skip
            except asyncio.CancelledError:
                for w in batch:
                    w.granted.cancel()
                raise
            except Exception as exc:  # the store failed: these waiters fail with it
                for w in batch:
                    if not w.granted.done():
                        w.granted.set_exception(exc)
                continue
            answered = time.time()
            if r.slot is None:
                self._refused[key] = datetime.fromtimestamp(r.retry_at or r.now, UTC)
                for w in [*batch, *queue]:
                    if not w.granted.done():
                        w.granted.set_result(None)
                queue.clear()
                return
            self._refused.pop(key, None)
            # The store's own instants are the closer ones (around the statement alone).
            self.clock.observe(r.asked or asked, r.now, r.answered or answered)
            slots = share(r.slot, costs, per_second)
            for w, slot in zip(batch, slots, strict=True):
                if not w.granted.done():
                    w.granted.set_result(self.clock.departure(slot))
            end = r.slot + sum(costs) / per_second + self.clock.high  # this process's clock
            if queue and end - AHEAD > time.time():  # reserve the next batch when it is near
                await asyncio.sleep(end - AHEAD - time.time())


def _take(queue: list[_Waiter], per_day: int | None, per_second: float) -> list[_Waiter]:
    """Take the waiters one reservation covers: one, or as many as fit in ``AHEAD``."""
    batch = [queue.pop(0)]
    if per_day is not None:
        return batch
    span = batch[0].cost / per_second
    while queue and span + queue[0].cost / per_second <= AHEAD:
        span += queue[0].cost / per_second
        batch.append(queue.pop(0))
    return batch

"""Token buckets per sender: the backlog waits in our outbox, never in the provider's queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float  # sustained rate (SMS: segments, others: messages)
    burst: float = 1.0  # what may go at once after a quiet spell
    per_day: int | None = None  # a provider quota (X direct messages)


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

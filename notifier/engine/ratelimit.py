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

    Waiters are served in arrival order under one lock, so a burst of concurrent senders
    is paced rather than racing; the bucket starts with ``burst`` tokens.
    """

    def __init__(self, rate: Rate, now: Callable[[], float] = time.monotonic) -> None:
        if rate.per_second <= 0:
            raise ValueError("a rate must be greater than zero")
        self.rate = rate
        self._now = now
        self._tokens = rate.burst
        self._stamp = now()
        self._lock = asyncio.Lock()
        self._day_start = now()
        self._day_count = 0

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are available, then take them."""
        async with self._lock:
            await self._take_daily()
            while True:
                now = self._now()
                self._tokens = min(
                    max(self.rate.burst, cost),
                    self._tokens + (now - self._stamp) * self.rate.per_second,
                )
                self._stamp = now
                if self._tokens >= cost:
                    self._tokens -= cost
                    return
                await asyncio.sleep((cost - self._tokens) / self.rate.per_second)

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

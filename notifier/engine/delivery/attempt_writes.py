"""Attempts committed just before their sends: a row is attempted only once it may go.

A send granted by the rate limiter writes its attempt (``sending`` with ``attempted_at``,
the attempt counted, the message kept) and only then goes; sends granted together share
one write. Until then the row is claimed but not attempted: a shutdown or a crash puts
it back in the outbox, never ``unknown``. A row whose attempt cannot be written fails
alone (``write_error``, as in ``faults.write_batch``) and is not sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

from notifier.clock import Clock
from notifier.engine.delivery.faults import write_batch
from notifier.engine.delivery.ports import ChangeWriter
from notifier.observability import Metrics

if TYPE_CHECKING:  # the sender builds its writer
    from notifier.engine.delivery.sending import Attempt

# The lead asked of the limiter: most recent writes fit in it (their 90th percentile),
# never more than MAX_LEAD (a database that slow: a missed slot costs less than waiting).
RECENT, MAX_LEAD = 32, 0.1  # writes, seconds


class AttemptWrites:
    """Writes attempts in batches: each caller learns whether its row may be sent."""

    def __init__(self, store: ChangeWriter, clock: Clock, metrics: Metrics) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self._pending: list[tuple[Attempt, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self._took: deque[float] = deque(maxlen=RECENT)  # seconds each recent write took

    def lead(self) -> float:
        """How long an attempt write takes here lately (the 90th percentile), in seconds."""
        if not self._took:
            return 0.0
        took = sorted(self._took)
        return min(MAX_LEAD, took[int(0.9 * (len(took) - 1))])

    async def write(self, a: Attempt) -> bool:
        """Commit ``a``'s attempt, stamped now; True when written, False when it failed alone.

        Raises when the store is down: the row was not attempted.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((a, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await done

    async def settled(self, within: float) -> None:
        """Wait (``within`` seconds at most) until no attempt write is under way."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task], timeout=within)

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # the sends granted at this instant join the write
            batch, self._pending = self._pending, []
            began = time.monotonic()
            now = self.clock.now()
            stamped = [replace(a, change=replace(a.change, attempted_at=now)) for a, _ in batch]
            try:
                written = await write_batch(
                    self.store, [a.change for a in stamped], stamped, now, self.metrics
                )
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self._took.append(time.monotonic() - began)
            ok = {a.notification.id for a in written}
            for a, done in batch:
                if not done.done():
                    done.set_result(a.notification.id in ok)

"""The relay: posts the event outbox to the CRM, each stream in order, streams side by side.

Up to NOTIFIER_EVENTS_CONCURRENCY stream heads are in flight (one event per promise at
most: a promise's next event is claimable only once this one is delivered or parked);
the answers are written in batches. A 2xx delivers; network errors, timeouts,
5xx, 429 and the 4xx that mean a setup problem (401, 403, 404...) retry with jittered
exponential backoff up to NOTIFIER_EVENTS_MAX_BACKOFF, never sooner than a Retry-After;
any other 4xx parks the event: kept with its reason, counted in ``notifier status``
and the metrics, requeued by ``notifier events requeue``. Delivery is at least once (a
crash between the POST and its write posts again): the body's ``id`` lets the receiver
drop a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog

from notifier.clock import Clock
from notifier.config.groups import EventSettings
from notifier.domain.crm_events import Answer, PendingEvent, PostOutcome, judge, retry_delay
from notifier.engine.outbound.ports import Receiver, RelayStore
from notifier.observability import Metrics

log = structlog.get_logger("notifier.events")
POLL = timedelta(seconds=1)  # an idle relay looks for new events this often
RETRY_FLOOR = timedelta(seconds=1)  # the first retry's wait, doubled on each one after
ERROR_PAUSE = timedelta(seconds=5)  # after a failed claim (the database is down)
PURGE_EVERY = timedelta(minutes=1)
PURGE_BATCH = 1000
# Seconds past the grace for the shutdown's last writes (the answers, the release), as the
# dispatcher's wrap-up: the daemon exits at most 2 s past the grace whatever happens.
WRAP_UP = 1.0


class Relay:
    """Posts pending events until ``stopping`` is set; then within the shutdown grace."""

    def __init__(
        self,
        store: RelayStore,
        receiver: Receiver,
        settings: EventSettings,
        clock: Clock,
        owner: str,
        metrics: Metrics | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store, self.receiver, self.settings = store, receiver, settings
        self.clock, self.owner, self.metrics, self._jitter = clock, owner, metrics, jitter
        # Past the longest POST, with room: a live relay's claim is never seen expired.
        self.lease = settings.events_timeout * 2 + timedelta(seconds=30)
        self._wake = asyncio.Event()
        self._last_purge: float | None = None

    def wake(self) -> None:
        """Look for events now rather than at the next poll."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Post events until ``stopping``; then let the posts in flight finish in the grace.

        Up to NOTIFIER_EVENTS_CONCURRENCY posts are in flight; once half the slots are
        free (or none is in flight) the answers so far are written in one transaction and
        more heads are claimed, so a slow answer holds up its own promise only.
        """
        tasks: set[asyncio.Task[PostOutcome]] = set()
        done: list[PostOutcome] = []
        limit = self.settings.events_concurrency
        refill = max(1, limit // 2)
        try:
            while not stopping.is_set():
                try:
                    if not tasks or limit - len(tasks) >= refill:
                        await self._record(done)
                        tasks |= await self._claim(limit - len(tasks))
                    await self._purge()
                except Exception:
                    log.exception("events.relay_error")
                    await self._pause(stopping, ERROR_PAUSE)
                    continue
                finished = await self._first(tasks, stopping)
                done.extend(t.result() for t in finished)
                tasks -= finished
                if not finished and done:  # slow answers hold every slot: write what came
                    with contextlib.suppress(Exception):
                        await self._record(done)
        finally:
            await self._wrap_up(tasks, done)

    async def _claim(self, free: int) -> set[asyncio.Task[PostOutcome]]:
        events = await self.store.claim_events(self.clock.now(), self.owner, self.lease, free)
        return {asyncio.create_task(self._post(e), name=f"event-{e.id}") for e in events}

    async def _record(self, done: list[PostOutcome]) -> None:
        """Write the answers so far in one transaction; they are kept if the write fails."""
        if done:
            await self.store.record_posts(list(done), self.owner, self.clock.now())
            done.clear()

    async def _first(
        self, tasks: set[asyncio.Task[PostOutcome]], stopping: asyncio.Event
    ) -> set[asyncio.Task[PostOutcome]]:
        """Wait for a post to finish, ``stopping``, a wake-up or the poll; return the finished."""
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        stop = asyncio.ensure_future(stopping.wait())
        waiting: set[asyncio.Future[Any]] = {*tasks, woken, stop}
        try:
            await asyncio.wait(waiting, timeout=POLL.total_seconds(),
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            woken.cancel()
            stop.cancel()
        return {t for t in tasks if t.done()}

    async def _wrap_up(
        self, tasks: set[asyncio.Task[PostOutcome]], done: list[PostOutcome]
    ) -> None:
        """Shutdown: the posts in flight get the grace; what they answered is written, the
        rest is given back for another replica or the next start."""
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace.total_seconds())
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is None:
                done.append(t.result())
            else:
                t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._last_writes(done), WRAP_UP)
        await self.receiver.aclose()

    async def _last_writes(self, done: list[PostOutcome]) -> None:
        try:
            await self._record(done)
        finally:
            await self.store.release_events(self.owner)

    async def _post(self, event: PendingEvent) -> PostOutcome:
        answer = await self.receiver.post(event.body)
        verdict = Answer.RETRY if answer.status == 0 else judge(answer.status)
        now = self.clock.now()
        if self.metrics is not None:
            self.metrics.events_posts.labels(verdict.value).inc()
        if verdict is Answer.DELIVERED:
            return PostOutcome(event.id, delivered=True)
        error = answer.error or f"HTTP {answer.status}"
        retry_at = None
        if verdict is Answer.RETRY:
            s = self.settings
            wait = retry_delay(event.attempts + 1, RETRY_FLOOR, s.events_max_backoff,
                               self._jitter(), answer.retry_after)  # fmt: skip
            retry_at = now + wait
        log.warning("events.post_failed", event_id=event.id, stream=event.stream,
                    sequence=event.sequence, attempts=event.attempts + 1, error=error,
                    outcome=verdict.value)  # fmt: skip
        return PostOutcome(event.id, False, error, retry_at)

    async def _purge(self) -> None:
        """Delete delivered events older than NOTIFIER_EVENTS_KEEP, a bounded batch a minute."""
        loop = asyncio.get_running_loop()
        if (
            self._last_purge is not None
            and loop.time() - self._last_purge < PURGE_EVERY.total_seconds()
        ):
            return
        self._last_purge = loop.time()
        before = self.clock.now() - self.settings.events_keep
        await self.store.purge_delivered(before, PURGE_BATCH)

    async def _pause(self, stopping: asyncio.Event, wait: timedelta) -> None:
        self._wake.clear()
        woken = asyncio.ensure_future(self._wake.wait())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({woken, stop}, timeout=wait.total_seconds(),
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            woken.cancel()
            stop.cancel()

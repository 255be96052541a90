"""The relay: posts the event outbox to the CRM, each stream in order, streams side by side.

A round claims up to NOTIFIER_EVENTS_CONCURRENCY stream heads (one event per promise at
most: a promise's next event is claimable only once this one is delivered or parked),
posts them at once and writes each answer. A 2xx delivers; network errors, timeouts,
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
RELEASE_WITHIN = 2.0  # seconds the shutdown's release of unfinished leases may take


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
        """Post rounds of events until ``stopping``; give back unfinished claims at the end."""
        try:
            while not stopping.is_set():
                try:
                    claimed = await self._round(stopping)
                    await self._purge()
                except Exception:
                    log.exception("events.relay_error")
                    await self._pause(stopping, ERROR_PAUSE)
                    continue
                if claimed < self.settings.events_concurrency:
                    await self._pause(stopping, POLL)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.store.release_events(self.owner), RELEASE_WITHIN)
            await self.receiver.aclose()

    async def _round(self, stopping: asyncio.Event) -> int:
        events = await self.store.claim_events(
            self.clock.now(), self.owner, self.lease, self.settings.events_concurrency
        )
        if not events:
            return 0
        outcomes: list[PostOutcome] = []
        posts = asyncio.gather(*(self._post(e, outcomes) for e in events))
        stop = asyncio.ensure_future(stopping.wait())
        try:
            either: set[asyncio.Future[Any]] = {posts, stop}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not posts.done():  # shutting down: the posts in flight get the grace
                grace = self.settings.shutdown_grace.total_seconds()
                await asyncio.wait({posts}, timeout=grace)
        finally:
            stop.cancel()
            if not posts.done():
                posts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await posts
        # The answers that came, in one write; an event cut short stays leased to us and
        # is given back at the end of ``run`` (or its lease runs out).
        if outcomes:
            await self.store.record_posts(outcomes, self.owner, self.clock.now())
        return len(events)

    async def _post(self, event: PendingEvent, outcomes: list[PostOutcome]) -> None:
        answer = await self.receiver.post(event.body)
        verdict = Answer.RETRY if answer.status == 0 else judge(answer.status)
        now = self.clock.now()
        if self.metrics is not None:
            self.metrics.events_posts.labels(verdict.value).inc()
        if verdict is Answer.DELIVERED:
            outcomes.append(PostOutcome(event.id, delivered=True))
            return
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
        outcomes.append(PostOutcome(event.id, False, error, retry_at))

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

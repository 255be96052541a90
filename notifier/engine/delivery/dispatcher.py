"""The dispatcher: claim due rows with a lease, decide, send concurrently, record the outcome."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from notifier.channels.registry import Channels
from notifier.clock import Clock
from notifier.config import DispatchSettings, ScanSettings
from notifier.domain.crisis import IncidentMute
from notifier.domain.decide import (
    Claim,
    Mute,
    Situation,
    decide,
)
from notifier.domain.dispatch import DAY
from notifier.domain.errors import one_line
from notifier.domain.outbox import (
    ROUTE_ERROR,
    Change,
    Notification,
)
from notifier.domain.waking import idle_wait
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.faults import release_batch, write_batch
from notifier.engine.delivery.pauses import Pauses
from notifier.engine.delivery.ports import ClaimStore, DispatchStore
from notifier.engine.delivery.render_stage import ClaimedBatch, RenderStage
from notifier.engine.delivery.sending import Attempt, Sender
from notifier.engine.monitor import PROBE_TIMEOUT, Health, bounded, describe
from notifier.observability import Metrics

log = structlog.get_logger("notifier.dispatch")
OPS_TIMELINE = 30  # lines of each customer's timeline in an ops message: context, not a dump
T = TypeVar("T")
# After the grace, at most this long to write the outcomes and release the rest.
WRAP_UP = timedelta(seconds=1)
# Idle, the dispatcher wakes when the earliest pending row is due, when told (the scan,
# the API, another process through the wake-ups, an outcome written), and at least this
# often: the safety net for a change nobody announced.
SAFETY_POLL = timedelta(seconds=5)
# A row due yet not claimed (its rule paused, its customer held by another replica): look
# again this much later.
DUE_POLL = timedelta(seconds=1)


async def release_unattempted(
    store: ClaimStore, owner: str, now: datetime, within: timedelta = WRAP_UP
) -> int:
    """Put back in the outbox every row ``owner`` claimed but did not attempt; return how many.

    Bounded by ``within``: when the database does not answer, the rows' leases run out
    and recovery (this process's or the next's) takes them.
    """
    try:
        released = await within_or_abandon(store.release_all(owner, now), within)
    except Exception as exc:  # TimeoutError included
        log.error("dispatch.release_failed", owner=owner, error=one_line(exc))
        return 0
    if released:
        log.info("dispatch.released", count=released)
    return released


async def within_or_abandon(work: Awaitable[T], within: timedelta) -> T:
    """Return what ``work`` returns within ``within``, or raise TimeoutError and leave it.

    Unlike ``asyncio.wait_for`` this does not wait for the cancelled work to finish: a
    database driver's clean-up on a silent connection can take forever.
    """
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait([task], timeout=within.total_seconds())
    if not done:
        task.add_done_callback(_retrieve)
        task.cancel()
        raise TimeoutError(f"no answer within {within.total_seconds():g}s")
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned task's error is not reported as lost


async def _unless_stopped(work: Coroutine[Any, Any, int], stopping: asyncio.Event) -> int:
    """Run ``work`` to its end, or cancel it as soon as ``stopping`` is set (returns 0)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    task.add_done_callback(_retrieve)
    task.cancel()  # what it claimed and did not attempt, release_unattempted gives back
    return 0


class Dispatcher:
    """Sends what the outbox holds; never more than ``dispatch_concurrency`` at once."""

    def __init__(
        self,
        store: DispatchStore,
        channels: Channels,
        composer: Composer,
        clock: Clock,
        dispatch: DispatchSettings,
        scan: ScanSettings,  # the health tracker's, when none is given
        *,
        owner: str | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        health: Health | None = None,
        mutes: tuple[Mute, ...] = (),
    ) -> None:
        self.owner = owner or f"notifier-{uuid.uuid4().hex[:12]}"
        self.store = store.leased_to(self.owner)  # outcomes written only while leased to us
        self.channels = channels
        self.clock = clock
        self.dispatch = dispatch
        self.metrics = metrics or Metrics()
        self.health = health or Health.from_settings(scan, self.metrics)
        self.pauses = Pauses(store, clock, dispatch)
        self.sender = Sender(
            self.store, channels, clock, dispatch, self.pauses, rng or random.Random(),
            self.metrics, self.health,
        )  # fmt: skip
        self.render_stage = RenderStage(self.store, composer, self.metrics)
        self.mutes = mutes  # what else holds notices back (an open incident's is built in)
        self.wakeup = asyncio.Event()
        self.sender.on_written = self.wake  # a retry written for later: the wait may change
        self._idle_until: datetime | None = None  # the end of the idle wait under way
        self._known: datetime | None = None  # the earliest pending send that wait knew of
        self._preparing: set[int] = set()  # claimed by the round under way, not sending yet

    @property
    def composer(self) -> Composer:
        """The templates in force: a reload replaces them here, for the render stage."""
        return self.render_stage.composer

    @composer.setter
    def composer(self, composer: Composer) -> None:
        self.render_stage.composer = composer

    @property
    def held_ids(self) -> set[int]:
        """The rows this process is working on: recovery must leave them alone."""
        return self._preparing | self.sender.held_ids

    def wake(self) -> None:
        """Look at the outbox now (the scan or the API added rows)."""
        self.wakeup.set()

    def send_at(self, at: datetime) -> None:
        """A row is due at ``at`` (another process's change): wake then, if that is earlier."""
        until, known = self._idle_until, self._known
        # Known already (a row due yet unclaimed, its rule paused): no claim for it again.
        if until is not None and at < until and (known is None or at < known):
            self.wake()

    async def _idle_wait(self) -> float:
        """Seconds to wait idle: until the earliest pending row is due, within the safety poll."""
        try:
            earliest = await bounded(self.store.earliest_send(), PROBE_TIMEOUT.total_seconds())
        except Exception as exc:  # the claim that follows will tell the database is down
            log.warning("dispatch.earliest_failed", error=describe(exc))
            earliest = None
        now = self.clock.now()
        wait = idle_wait(earliest, now, due_poll=DUE_POLL, safety=SAFETY_POLL)
        self._idle_until, self._known = now + wait, earliest
        return wait.total_seconds()

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until ``stopping`` is set, then shut down within the grace.

        Idle, wait until the earliest pending row is due, a wake-up, or the safety poll
        (``SAFETY_POLL``). Once stopped nothing more is claimed: sends
        in flight get until NOTIFIER_SHUTDOWN_GRACE, then ``WRAP_UP`` more to write their
        outcomes and give back what was claimed but not attempted. Whatever the store
        would not take in time (the database is down) the next process recovers.
        """
        writer = asyncio.create_task(self.sender.write_results(stopping))
        try:
            while not stopping.is_set():
                self.wakeup.clear()  # before the claim: a wake-up during it is not lost
                try:
                    done = await _unless_stopped(self.dispatch_once(), stopping)
                    self.health.claim_done(self.clock.now())
                except Exception as exc:  # a store hiccup must not stop the daemon: log, retry
                    log.exception("dispatch.error")
                    self.health.claim_done(self.clock.now(), exc)
                    done = 0
                if done == 0 and not stopping.is_set():
                    timeout = await self._idle_wait()
                    waiters = [asyncio.ensure_future(self.wakeup.wait()),
                               asyncio.ensure_future(stopping.wait())]  # fmt: skip
                    await asyncio.wait(waiters, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                    self._idle_until = None
                    for w in waiters:
                        w.cancel()
        finally:
            await self._shut_down(writer, stopping)

    async def _shut_down(self, writer: asyncio.Task[None], stopping: asyncio.Event) -> None:
        await self.sender.drain(self.dispatch.shutdown_grace)
        stopping.set()
        # Side by side: the outcomes are of attempted rows, the release of the others.
        await asyncio.gather(
            self._last_outcomes(writer),
            release_unattempted(self.store, self.owner, self.clock.now(), WRAP_UP),
        )

    async def _last_outcomes(self, writer: asyncio.Task[None]) -> None:
        try:
            await within_or_abandon(writer, WRAP_UP)
        except TimeoutError:  # the rows stay ``sending``: the next process looks them up
            log.error("dispatch.outcomes_unwritten", count=self.sender.unwritten)
        except Exception:
            log.exception("dispatch.writer_failed")

    async def dispatch_until_idle(self, max_rounds: int = 1000) -> int:
        """Dispatch and wait for the outcomes until nothing is due; return rows claimed."""
        total = 0
        for _ in range(max_rounds):
            claimed = await self.dispatch_once()
            await self.sender.flush()
            total += claimed
            if claimed == 0:
                break
        return total

    async def dispatch_once(self) -> int:
        """Claim one batch of due rows and start their sends; return how many were claimed."""
        # Claim in batches: claiming each time one slot frees costs a claim, a load and a
        # write per notification, so wait until a quarter of the slots are free.
        s = self.dispatch
        free = s.dispatch_concurrency - self.sender.in_flight
        if free < max(1, min(s.dispatch_batch_size, s.dispatch_concurrency) // 4):
            await self.sender.slot_freed()
            return 1
        now = self.clock.now()
        await self.pauses.refresh(now)
        claimed = await self.store.claim(
            now,
            self.owner,
            self.dispatch.lease,
            min(self.dispatch.dispatch_batch_size, free),
            sorted(self.pauses.rules),
        )
        if not claimed:
            return 0
        self._preparing = {n.id for n in claimed}
        try:
            return await self._dispatch(claimed, now)
        finally:
            self._preparing = set()

    async def _dispatch(self, claimed: list[Notification], now: datetime) -> int:
        if self.pauses.channels:  # a resume may have released these rows a moment ago
            await self.pauses.refresh(now, force=True)
        try:
            with self.metrics.dispatch_seconds.time():
                batch = await self._load(claimed, now)
                self._decide(batch, now)
                await self.render_stage.render(batch, now)
                # The attempts themselves are written as the limiter grants them (sending.py).
                batch.attempts = await write_batch(
                    self.store, batch.changes, batch.attempts, now, self.metrics
                )
        except Exception as exc:  # no row of this batch may stay leased and ``sending``
            await release_batch(self.store, claimed, now, exc)
            raise
        for attempt in batch.attempts:
            self.sender.start(attempt)
        self._count_decisions(batch)
        return len(claimed)

    def _count_decisions(self, batch: ClaimedBatch) -> None:
        """Count what was decided without a send: cancelled, suppressed, deferred, held."""
        rules = {n.id: n.rule_id or "-" for n in batch.claimed}
        for change in batch.changes:
            if change.event is None or change.event.type == "folded":
                continue
            channel = change.event.channel or "-"
            rule = rules.get(change.id, "-")
            self.metrics.notifications.labels(channel, rule, change.event.type).inc()

    async def _load(self, claimed: list[Notification], now: datetime) -> ClaimedBatch:
        customer_ids = list({n.customer_id for n in claimed if n.customer_id is not None})
        promise_ids = [n.promise_id for n in claimed if n.promise_id is not None]
        unreadable: dict[str, str] = {}
        unreadable_promises: dict[int, str] = {}
        # The incidents under way hold back their promises' notices (the inhibition).
        inhibiting = (
            [i for i in await self.store.list_incidents(open_only=True) if i.inhibits]
            if promise_ids
            else []
        )
        return ClaimedBatch(
            claimed,
            await self.store.get_customers(customer_ids, unreadable),
            await self.store.get_promises(promise_ids, unreadable_promises),
            await self.store.sent_since(customer_ids, now - DAY),
            unreadable,
            unreadable_promises,
            views=await self.store.crisis_views(claimed),
            inhibiting=inhibiting,
        )

    def _decide(self, batch: ClaimedBatch, now: datetime) -> None:
        """Run the decide step on the batch; log and count the rows that failed in it."""
        claim = Claim(
            batch.claimed, batch.customers, batch.promises, batch.sent,
            self.sender.unsettled, batch.unreadable, batch.unreadable_promises, batch.views,
        )  # fmt: skip
        mutes: tuple[Mute, ...] = self.mutes
        if batch.inhibiting:
            mutes = (*mutes, IncidentMute(batch.inhibiting))
        situation = Situation(
            available=self.channels.available() - self.pauses.down,
            paused=self.pauses.channels,
            ops_address=self.dispatch.ops_email,
            cap=self.dispatch.frequency_cap,
            mutes=mutes,
        )
        decision = decide(claim, situation, now)
        batch.crises.update(decision.crises)
        for fault in decision.faults:
            if fault.reason == ROUTE_ERROR:
                n = fault.notification
                log.warning("dispatch.row_failed", notification_id=n.id, reason=fault.reason,
                            error=fault.text, exc_info=fault.error)  # fmt: skip
            self.metrics.dispatch_errors.labels(fault.reason).inc()
        batch.changes.extend(decision.changes)
        batch.attempts.extend(
            Attempt(g.notification, g.send, g.members, Change(g.notification.id))
            for g in decision.goes
        )

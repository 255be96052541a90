"""The dispatcher: claim due rows with a lease, decide, send concurrently, record the outcome."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime

import structlog

from notifier.channels.registry import Channels
from notifier.clock import Clock
from notifier.config import DispatchSettings, ScanSettings
from notifier.domain.decide import (
    Claim,
    Mute,
    Situation,
    decide,
)
from notifier.domain.dispatch import DAY
from notifier.domain.outbox import (
    ROUTE_ERROR,
    Change,
    Notification,
)
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.faults import release_batch, write_batch
from notifier.engine.delivery.pauses import Pauses
from notifier.engine.delivery.ports import DispatchStore
from notifier.engine.delivery.render_stage import ClaimedBatch, RenderStage
from notifier.engine.delivery.sending import Attempt, Sender
from notifier.engine.monitor import Health
from notifier.observability import Metrics

log = structlog.get_logger("notifier.dispatch")
OPS_TIMELINE = 30  # lines of each customer's timeline in an ops message: context, not a dump


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
        self.store = store
        self.channels = channels
        self.clock = clock
        self.dispatch = dispatch
        self.owner = owner or f"notifier-{uuid.uuid4().hex[:12]}"
        self.metrics = metrics or Metrics()
        self.health = health or Health.from_settings(scan, self.metrics)
        self.pauses = Pauses(store, clock, dispatch)
        self.sender = Sender(
            store, channels, clock, dispatch, self.pauses, rng or random.Random(), self.metrics,
            self.health,
        )  # fmt: skip
        self.render_stage = RenderStage(store, composer, self.metrics)
        self.mutes = mutes  # what holds individual notices back (a crisis, later)
        self.wakeup = asyncio.Event()

    @property
    def composer(self) -> Composer:
        """The templates in force: a reload replaces them here, for the render stage."""
        return self.render_stage.composer

    @composer.setter
    def composer(self, composer: Composer) -> None:
        self.render_stage.composer = composer

    def wake(self) -> None:
        """Look at the outbox now (the scan or the API added rows)."""
        self.wakeup.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Dispatch until ``stopping`` is set; idle, wait for a wake-up or a second."""
        writer = asyncio.create_task(self.sender.write_results(stopping))
        try:
            while not stopping.is_set():
                try:
                    done = await self.dispatch_once()
                    self.health.claim_done(self.clock.now())
                except Exception as exc:  # a store hiccup must not stop the daemon: log, retry
                    log.exception("dispatch.error")
                    self.health.claim_done(self.clock.now(), exc)
                    done = 0
                if done == 0:
                    self.wakeup.clear()
                    waiters = [asyncio.ensure_future(self.wakeup.wait()),
                               asyncio.ensure_future(stopping.wait())]  # fmt: skip
                    await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
        finally:
            await self.sender.drain(self.dispatch.shutdown_grace)
            stopping.set()
            await writer
            await self.store.release_all(self.owner, self.clock.now())

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
        return ClaimedBatch(
            claimed,
            await self.store.get_customers(customer_ids, unreadable),
            await self.store.get_promises(promise_ids, unreadable_promises),
            await self.store.sent_since(customer_ids, now - DAY),
            unreadable,
            unreadable_promises,
        )

    def _decide(self, batch: ClaimedBatch, now: datetime) -> None:
        """Run the decide step on the batch; log and count the rows that failed in it."""
        claim = Claim(
            batch.claimed, batch.customers, batch.promises, batch.sent,
            self.sender.unsettled, batch.unreadable, batch.unreadable_promises,
        )  # fmt: skip
        situation = Situation(
            available=self.channels.available() - self.pauses.down,
            paused=self.pauses.channels,
            ops_address=self.dispatch.ops_email,
            cap=self.dispatch.frequency_cap,
            mutes=self.mutes,
        )
        decision = decide(claim, situation, now)
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

"""The daemon's periodic jobs beside the scan: health, lease renewal, housekeeping, purge,
the digest of crisis replies.

Each runs on the daemon's APScheduler at its own pace and never raises (a failure is
logged; the next run tries again). Housekeeping, the purge and the digest are the
cluster's: the replica that takes the tick (``Store.claim_tick``) runs them, the others
skip it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.channels.registry import Channels
from notifier.clock import SystemClock
from notifier.config import Settings
from notifier.domain.published import PURGED_KINDS, RetentionState
from notifier.engine.crisis.replies import send_digests
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.delivery.recovery import recover
from notifier.engine.monitor import PROBE_TIMEOUT, Health, bounded, describe
from notifier.observability import Metrics
from notifier.store.store import Store

log = structlog.get_logger("notifier.daemon")
HOUSEKEEPING_EVERY = timedelta(seconds=10)
RENEW_FLOOR = timedelta(seconds=0.5)  # the most often leases are renewed, however short
HEALTH_EVERY = timedelta(seconds=5)  # the database probe and the sending backlog's metrics
# The retention purge: at most PURGE_BATCHES transactions of PURGE_BATCH rows a tick.
PURGE_EVERY, PURGE_BATCH, PURGE_BATCHES = timedelta(minutes=1), 1000, 20


@dataclass
class Jobs:
    """The periodic jobs of one ``notifier run`` process, over its dispatcher and store."""

    settings: Settings
    store: Store
    clock: SystemClock
    dispatcher: Dispatcher
    channels: Channels
    metrics: Metrics
    health: Health
    stopping: asyncio.Event

    def schedule(self, scheduler: AsyncIOScheduler, now: datetime) -> None:
        """Add every job to ``scheduler``, each first run at ``now``."""
        every = {
            "renew": (self.renew, renew_every(self.settings.lease)),
            "housekeeping": (self.housekeeping, HOUSEKEEPING_EVERY),
            "health": (self.check_health, HEALTH_EVERY),
            "purge": (self.purge, PURGE_EVERY),
            "crisis_digest": (self.crisis_digest, self.settings.crisis_digest_every),
        }
        for name, (job, period) in every.items():
            scheduler.add_job(
                job, "interval", seconds=period.total_seconds(), id=name, max_instances=1,
                coalesce=True, next_run_time=now, misfire_grace_time=None,
            )  # fmt: skip

    async def check_health(self) -> None:
        """Probe the database and measure the sending backlog, each within a bound."""
        if self.stopping.is_set():
            return
        if await self.health.probe(self.store) is not None:
            return
        now = self.clock.now()
        try:
            backlog = await bounded(self.store.sending_backlog(now), PROBE_TIMEOUT.total_seconds())
        except Exception as exc:  # the next probe tells whether the database is the cause
            log.warning("health.backlog_failed", error=describe(exc))
            return
        oldest = (now - backlog.oldest).total_seconds() if backlog.oldest else 0.0
        self.metrics.oldest_sending.set(max(0.0, oldest))
        self.metrics.past_lease.set(backlog.past_lease)
        if self.settings.events_url is not None:
            await self._measure_events(now)

    async def _measure_events(self, now: datetime) -> None:
        try:
            events = await bounded(self.store.event_backlog(), PROBE_TIMEOUT.total_seconds())
        except Exception as exc:
            log.warning("health.events_failed", error=describe(exc))
            return
        self.metrics.events_pending.set(events.pending)
        self.metrics.events_parked.set(events.parked)
        age = (now - events.oldest).total_seconds() if events.oldest else 0.0
        self.metrics.events_oldest.set(max(0.0, age))

    async def renew(self) -> None:
        """Renew the leases of the rows this process holds, well before they run out.

        Every third of NOTIFIER_LEASE (at most every 10 s): a live replica's rows are never
        seen expired by another, however short the lease.
        """
        if self.stopping.is_set():
            return
        try:
            held = sorted(self.dispatcher.held_ids)
            await self.store.renew(
                held, self.clock.now(), self.dispatcher.owner, self.settings.lease
            )
        except Exception:
            log.exception("leases.renew_failed")

    async def housekeeping(self) -> None:
        """Once a tick across the cluster: recover expired leases and set the queue's gauges.

        Recovery (expired leases of dead processes, and this one's own that no send holds)
        and the gauges are the cluster's. Leases are renewed by their own job (``renew``).
        """
        if self.stopping.is_set():
            return
        now = self.clock.now()
        try:
            tick = tick_start(datetime.now(UTC), HOUSEKEEPING_EVERY)  # wall clock: as scheduled
            owner = self.dispatcher.owner
            if not await self.store.claim_tick("housekeeping", tick, HOUSEKEEPING_EVERY, owner):
                return
            # This process's own expired rows no task holds are recovered too: no restart.
            report = await recover(
                self.store.leased_to(owner), self.channels, self.settings.dispatch, owner, now,
                held=self.dispatcher.held_ids,
            )  # fmt: skip
            if report.resent:
                self.dispatcher.wake()
            stats = await self.store.queue_stats()
            self.metrics.queue_depth.set(stats.count("pending"))
            oldest = stats.oldest_pending
            self.metrics.oldest_pending.set(
                max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            )
        except Exception:
            log.exception("housekeeping.error")

    async def purge(self) -> None:
        """Once a tick across the cluster: purge what is older than NOTIFIER_RETENTION.

        Bounded (PURGE_BATCHES short transactions): a backlog is worked off over the next
        ticks while the scan and the dispatch go on. Off, it publishes only that it is off.
        """
        if self.stopping.is_set():
            return
        retention, now = self.settings.purge.retention, self.clock.now()
        try:
            tick = tick_start(datetime.now(UTC), PURGE_EVERY)  # wall clock: as scheduled
            if not await self.store.claim_tick("purge", tick, PURGE_EVERY, self.dispatcher.owner):
                return
            if retention is None:
                await self.store.publish(RetentionState(), now)
                return
            started = asyncio.get_running_loop().time()
            figures = await self.store.purge(
                now - retention, now, batch=PURGE_BATCH, max_batches=PURGE_BATCHES
            )
            took = round(asyncio.get_running_loop().time() - started, 3)
            state = RetentionState(retention, now - retention, figures, took)
            await self.store.publish(state, now)
            for kind in PURGED_KINDS:
                self.metrics.purged.labels(kind).inc(getattr(figures, kind))
            self.metrics.last_purge.set(now.timestamp())
            if figures.rows:
                log.info("retention.purged", **state.view())
        except Exception:
            log.exception("retention.error")

    async def crisis_digest(self) -> None:
        """Once a tick across the cluster: email ops one digest per incident with new replies.

        A reply is in exactly one digest, even when two replicas' ticks meet (a clock
        off by a period): the write itself is exactly-once (``store/incident_replies.py``).
        """
        if self.stopping.is_set():
            return
        digest = self.settings.digest
        try:
            every = digest.crisis_digest_every
            tick = tick_start(datetime.now(UTC), every)  # wall clock: as scheduled
            if not await self.store.claim_tick("crisis_digest", tick, every, self.dispatcher.owner):
                return
            if await send_digests(self.store, self.clock.now(), digest):
                self.dispatcher.wake()
        except Exception:
            log.exception("crisis.digest_error")


def renew_every(lease: timedelta) -> timedelta:
    """How often the leases are renewed: a third of the lease, at most every 10 s."""
    return max(RENEW_FLOOR, min(HOUSEKEEPING_EVERY, lease / 3))


def tick_start(now: datetime, every: timedelta) -> datetime:
    """The start of the period of length ``every`` that ``now`` falls in (the same everywhere)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return epoch + every * ((now - epoch) // every)

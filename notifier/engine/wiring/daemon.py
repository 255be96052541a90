"""``notifier run``: the scan on APScheduler, the dispatcher, housekeeping, in one process."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.channels.crm_webhook import CrmWebhook
from notifier.channels.registry import build_channels
from notifier.clock import SystemClock, system_clock
from notifier.config import Settings
from notifier.domain.errors import NotifierError
from notifier.domain.maintenance import next_maintenance_at
from notifier.domain.published import RulesState, ScanFigures
from notifier.domain.rules.model import RuleSet
from notifier.domain.waking import next_scan_at, not_sooner
from notifier.engine.crisis.detector import detect
from notifier.engine.crisis.maintenance_windows import MaintenanceRunner
from notifier.engine.crisis.planner import Sweeps, plan_incidents
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import WRAP_UP, Dispatcher
from notifier.engine.ingest.ledger_service import Ledger, LedgerDefaults
from notifier.engine.monitor import PROBE_TIMEOUT, Health, bounded, describe
from notifier.engine.outbound.relay import Relay
from notifier.engine.planning.scanner import scan
from notifier.engine.rulefiles.reload import Reloader
from notifier.engine.wiring.jobs import Jobs
from notifier.engine.wiring.services import Services
from notifier.engine.wiring.wakeups import Wakeups
from notifier.observability import Metrics
from notifier.process import exit_after
from notifier.store.single_writer import DaemonLock
from notifier.store.store import Store
from notifier.templates import Company, Renderer, RenderLimits
from notifier.templates.title_templates import TitleTemplates

log = structlog.get_logger("notifier.daemon")
# A woken scan that found another replica scanning tries again this much later, in seconds.
SKIPPED_RETRY = 1.0
# Past the grace: the wrap-up's writes (WRAP_UP), then a last second for the rest.
FORCE_AFTER = WRAP_UP + timedelta(seconds=1)


class Serving(Protocol):
    async def serve(self) -> None: ...

    def stop(self) -> None: ...


ServerFactory = Callable[[Services, Metrics], Serving]


class StartupError(NotifierError):
    """The daemon cannot start; the message says why and what to do."""


@dataclass
class Daemon:
    settings: Settings
    store: Store
    server: ServerFactory | None = None  # None: no API in this process (--no-api)
    clock: SystemClock = field(init=False)
    metrics: Metrics = field(default_factory=Metrics)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    lock: DaemonLock | None = None  # taken by the caller before any start-up output
    # Exit the process FORCE_AFTER past the grace if shutdown has not ended by then (the
    # database stopped answering): set by ``notifier run``, which owns the process.
    force_exit: bool = False

    def __post_init__(self) -> None:
        self.clock = system_clock(self.settings.clock)
        self._scan_lock = asyncio.Lock()
        self._sweeps = Sweeps()  # what the crisis planner last read of each open incident
        self._rescan = False
        self._woken = False  # a wake-up not yet followed by a scan of this process's
        self.health = Health.from_settings(self.settings.scan, self.metrics)
        self._last_scan = ScanFigures()  # the last successful scan's figures
        self.relay: Relay | None = None  # with NOTIFIER_EVENTS_URL: posts the event outbox
        self._scan_skipped = False  # the last scan found another replica scanning
        # The next scan at the earliest check: a timer of the loop's, outside APScheduler,
        # which skips a run asked for while the job's own run is still returning.
        self._timer: asyncio.TimerHandle | None = None
        self._timed_scans: set[asyncio.Task[None]] = set()
        self._scanned: tuple[datetime, datetime] | None = None  # the last scan's start, end

    async def run(self) -> None:
        """Run until SIGTERM or SIGINT; sends in flight finish within the grace period."""
        lock = self.lock or DaemonLock.for_url(self.settings.database_url)
        lock.acquire()
        try:
            await self._run()
        finally:
            lock.release()

    async def _run(self) -> None:
        s = self.settings
        self.reloader = Reloader(s.rules, s.render, self.store, self.clock, self.metrics)
        self.maintenance = MaintenanceRunner(self.store, s.default_locale)
        # Crisis titles render in the messages' sandbox, under the same limits.
        self.titles = TitleTemplates(RenderLimits.from_settings(s.render))
        first = self.reloader.load()
        if first.rules is None:
            raise StartupError(
                "the rules have problems; fix them and start again:\n"
                + "\n".join(str(p) for p in first.problems if p.severity == "error")
            )
        warnings = [str(p) for p in first.problems]
        rules_state = RulesState(ok=True, rules=len(first.rules.rules), problems=tuple(warnings))
        await self.store.publish(rules_state, self.clock.now())
        self.channels = build_channels(s.providers, demo=s.demo)
        for status in self.channels:
            log.info("channel", line=status.describe())
        assert self.reloader.renderer is not None  # loaded with the rules above
        company = Company.from_settings(s.messages)
        composer = Composer(self.reloader.renderer, company, s.messages, s.links)
        self.dispatcher = Dispatcher(
            self.store, self.channels, composer, self.clock, s.dispatch, s.scan,
            metrics=self.metrics, health=self.health,
        )  # fmt: skip
        self.reloader.on_reload = self._swap
        self.jobs = Jobs(
            s, self.store, self.clock, self.dispatcher, self.channels, self.metrics,
            self.health, self.stopping,
        )  # fmt: skip
        ledger = Ledger(
            self.store, self.clock, LedgerDefaults(s.default_locale, s.default_timezone),
            on_change=self.wake_scan,
        )  # fmt: skip
        services = Services(
            s, self.store, self.clock, ledger, problems=self.reloader.problems,
            wake_dispatcher=self.dispatcher.wake,
            advance_clock=self._advance if s.test_mode else None, health=self.health,
            renderer=self.reloader.renderer,
        )  # fmt: skip
        self.services = services
        # The server takes its port first: a port in use stops start-up before any work.
        try:
            server = self.server(services, self.metrics) if self.server else None
        except BaseException:
            await self.channels.aclose()  # their HTTP clients are open already
            raise
        self._signals()
        scheduler = self._scheduler()
        tasks = [
            asyncio.create_task(self.dispatcher.run(self.stopping), name="dispatcher"),
            asyncio.create_task(self.reloader.watch(), name="reload"),
        ]
        if server is not None:
            tasks.append(asyncio.create_task(server.serve(), name="api"))
        if s.events_url is not None:  # its own outbox, posted by this process's relay
            self.relay = Relay(self.store, CrmWebhook(s.events), s.events, self.clock,
                               self.dispatcher.owner, self.metrics)  # fmt: skip
            tasks.append(asyncio.create_task(self.relay.run(self.stopping), name="events"))
        tasks.append(asyncio.create_task(self._follow_wakeups(), name="wakeups"))
        scheduler.start()
        log.info("daemon.started", owner=self.dispatcher.owner, rules=len(first.rules.rules))
        try:
            await self.stopping.wait()
        finally:
            log.info("daemon.stopping")
            self.reloader.stop()
            scheduler.shutdown(wait=False)
            if server is not None:
                server.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.channels.aclose()
            log.info("daemon.stopped")

    @property
    def rules(self) -> RuleSet:
        """The rule set in force (the last good one)."""
        assert self.reloader.rules is not None
        return self.reloader.rules

    def stop(self) -> None:
        """Stop claiming; let sends in flight finish; exit."""
        if self.force_exit and not self.stopping.is_set():
            exit_after(self.settings.dispatch.shutdown_grace + FORCE_AFTER)
        self.stopping.set()

    def wake_scan(self) -> None:
        """Run the scan now (a promise changed); if one is running, once more after it."""
        if self.relay is not None:  # the change wrote its event: post it now, not at the poll
            self.relay.wake()
        self._woken = True
        if self._scan_lock.locked():
            self._rescan = True
            return
        self.scan_at(self.clock.now())

    def scan_at(self, at: datetime) -> None:
        """Scan at ``at`` (the daemon's clock, maybe offset) unless a scan comes sooner.

        A scan running then makes it scan once more after it (its read may predate).
        """
        if self.stopping.is_set():
            return
        if self._scanned is not None:
            at = not_sooner(at, *self._scanned)
        loop = asyncio.get_running_loop()
        # The delay is measured on the daemon's clock, which may be offset or advanced.
        when = loop.time() + max(0.0, (at - self.clock.now()).total_seconds())
        timer = self._timer
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(when, self._timed_scan)

    def _timed_scan(self) -> None:
        self._timer = None
        if self._scan_lock.locked():
            self._rescan = True
            return
        task = asyncio.create_task(self._scan_and_plan(), name="scan")
        self._timed_scans.add(task)
        task.add_done_callback(self._timed_scans.discard)

    async def _follow_wakeups(self) -> None:
        """Wake the scan and the dispatcher on other processes' changes (wiring/wakeups.py)."""
        wakeups = Wakeups(self.store, self.scan_at, self.dispatcher.send_at)
        try:
            await wakeups.run(self.stopping)
        finally:
            if self._timer is not None:
                self._timer.cancel()

    async def _scan_and_plan(self) -> None:
        """Scan, then schedule the next scan at the earliest check: the interval is a net."""
        if self.stopping.is_set() or self._scan_lock.locked():
            return
        began = self.clock.now()
        self._scan_skipped = False
        await self._scan()
        try:
            earliest = await bounded(self.store.earliest_check(), PROBE_TIMEOUT.total_seconds())
        except Exception as exc:  # the database is down: the interval's tick comes anyway
            log.warning("scan.earliest_failed", error=describe(exc))
            return
        done = self.clock.now()
        self._scanned = (began, done)
        # A maintenance's start and end are in its file, not the store: the scan wakes for them.
        window = next_maintenance_at(self.reloader.maintenance, began)
        earliest = min((t for t in (earliest, window) if t is not None), default=None)
        at = next_scan_at(earliest, began, done, skipped=self._scan_skipped)
        if at is not None:
            self.scan_at(at)

    def _advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.wake_scan()
        self.dispatcher.wake()

    def _swap(self, renderer: Renderer) -> None:
        s = self.settings
        self.dispatcher.composer = Composer(
            renderer, Company.from_settings(s.messages), s.messages, s.links
        )
        self.services.renderer = renderer  # the API measures incident texts with it
        # The maintenance windows may have changed: a scan now opens one already begun,
        # resolves one gone, and sets the timer for the next start or end.
        self.scan_at(self.clock.now())

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reloader.request)

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        self._scan_job = scheduler.add_job(
            self._scan_and_plan, "interval", seconds=self.settings.scan_interval.total_seconds(),
            id="scan", max_instances=1, coalesce=True, next_run_time=now,
            misfire_grace_time=None,
        )  # fmt: skip
        self.jobs.schedule(scheduler, now)
        return scheduler

    async def _scan(self) -> None:
        if self.stopping.is_set() or self._scan_lock.locked():
            return
        async with self._scan_lock, self.health.scanning():
            self._rescan = False
            now = self.clock.now()
            started = asyncio.get_running_loop().time()
            try:
                report = await scan(
                    self.store, self.rules, now, batch_size=self.settings.scan_batch_size,
                    consolidation_window=self.settings.consolidation_window,
                    then=lambda: self._crisis_turn(now),
                )  # fmt: skip
            except Exception as exc:
                log.exception("scan.error", failures=self.health.scan.failures + 1)
                self.health.scan_done(self.clock.now(), exc)
                await self._publish_scan(now)
                return
            self.health.scan_done(now)
            if report.skipped:  # another replica is scanning: its figures are published
                self._scan_skipped = True
                if self._woken:  # its read may predate the change that woke us: again soon
                    asyncio.get_running_loop().call_later(SKIPPED_RETRY, self.wake_scan)
                return
            self._woken = False
            took = asyncio.get_running_loop().time() - started
            self.metrics.scan_seconds.observe(took)
            self.metrics.scanned.inc(report.promises)
            for rule in report.plan_errors:
                self.metrics.plan_errors.labels(rule).inc()
            if report.scheduled:
                self.dispatcher.wake()
            figures = ScanFigures(
                promises=report.promises, scheduled=report.scheduled, broken=report.broken,
                plan_errors=len(report.plan_errors), seconds=round(took, 3), now=now,
            )  # fmt: skip
            self._last_scan = figures
            await self._publish_scan(now)
            if report.promises:
                log.info("scan.done", **figures.view())
        if self._rescan:  # a promise changed while this scan ran: look again now
            self.wake_scan()

    async def _crisis_turn(self, now: datetime) -> int:
        """In the scan's turn: planned maintenance, then crisis detection (an incident it
        starts at once is fanned out in the same turn), then the fan-out."""
        rules = self.rules
        await self.maintenance.run(self.reloader.maintenance, now)
        await detect(self.store, rules.crisis, now, self.settings.default_locale, self.titles)
        return await plan_incidents(self.store, now, rules.defaults.quiet_hours, self._sweeps)

    async def _publish_scan(self, now: datetime) -> None:
        """Publish the last good scan's figures with the failure streaks, for ``status``."""
        try:
            await self.store.publish(self.health.state(self._last_scan), now)
        except Exception as exc:  # the store is down: /readyz and the metrics say so meanwhile
            log.warning("scan.publish_failed", error=describe(exc))

"""What the daemon knows of its own health: failure streaks in memory, a bounded database probe.

The scan, the outcome writer and the dispatcher's claims report here after each try;
``/readyz`` and the metrics read from here, and the daemon publishes ``view()`` with the
scan state so that ``notifier status`` sees the same streaks from another machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from notifier.config import ScanSettings
from notifier.domain.health import Streak, unready_reasons
from notifier.domain.models import JSONValue
from notifier.domain.published import ScanFigures, ScanHealth, ScanState
from notifier.observability import Metrics, mask

T = TypeVar("T")
PROBE_TIMEOUT = timedelta(seconds=2)  # /readyz answers within this (plus the request's own time)
_ERROR_TEXT = 300  # characters of an error kept: the first line, masked


class ProbeStore(Protocol):
    """What the probe behind /readyz and the daemon's health tick asks of the store."""

    async def ping(self) -> None: ...


class Health:
    """The daemon's failure streaks (scan, outcome writes, claims) and the last probe's answer."""

    def __init__(
        self, interval: timedelta, max_scan_failures: int, metrics: Metrics | None = None
    ) -> None:
        self.interval = interval
        self.max_scan_failures = max_scan_failures
        self.metrics = metrics or Metrics()
        self.scan = Streak()
        self.writes = Streak()
        self.dispatch = Streak()
        self.database: str | None = None  # None: the last probe was answered
        self._scan_started: float | None = None
        self.metrics.ready.set_function(lambda: 0.0 if self.reasons() else 1.0)

    @classmethod
    def from_settings(cls, s: ScanSettings, metrics: Metrics | None = None) -> Health:
        """Return a tracker with the interval and threshold the settings give."""
        return cls(s.scan_interval, s.ready_max_scan_failures, metrics)

    @asynccontextmanager
    async def scanning(self) -> AsyncIterator[None]:
        """Time one scan tick, its publishing included: a tick stuck anywhere counts."""
        self._scan_started = time.monotonic()
        try:
            yield
        finally:
            self._scan_started = None

    def scan_done(self, now: datetime, error: BaseException | None = None) -> None:
        """Record how the scan under way ended."""
        if error is None:
            self.scan = self.scan.succeeded(now)
            self.metrics.last_scan.set_to_current_time()
        else:
            self.scan = self.scan.failed(describe(error), now)
            self.metrics.scan_failures.inc()
        self.metrics.scan_failing.set(self.scan.failures)

    def write_done(self, now: datetime, error: BaseException | None = None) -> None:
        """Record how a batch of outcome writes went."""
        if error is None:
            self.writes = self.writes.succeeded(now)
        else:
            self.writes = self.writes.failed(describe(error), now)
            self.metrics.write_failures.inc()
        self.metrics.writes_failing.set(self.writes.failures)

    def claim_done(self, now: datetime, error: BaseException | None = None) -> None:
        """Record how one of the dispatcher's rounds (claim, decide, render) went."""
        if error is None:
            self.dispatch = self.dispatch.succeeded(now)
        else:
            self.dispatch = self.dispatch.failed(describe(error), now)

    def scan_running(self) -> timedelta | None:
        """How long the scan under way has run; None when none is."""
        if self._scan_started is None:
            return None
        return timedelta(seconds=time.monotonic() - self._scan_started)

    def reasons(self) -> list[str]:
        """Why the daemon is not ready (from the last database probe); empty when it is."""
        return unready_reasons(
            database=self.database, scan=self.scan, writes=self.writes,
            scan_running=self.scan_running(), interval=self.interval,
            max_scan_failures=self.max_scan_failures,
        )  # fmt: skip

    async def probe(self, store: ProbeStore, within: timedelta = PROBE_TIMEOUT) -> str | None:
        """Ask the database for ``SELECT 1`` within ``within``; return None or why not."""
        try:
            await bounded(store.ping(), within.total_seconds())
            self.database = None
        except TimeoutError:
            self.database = f"no answer within {within.total_seconds():g}s"
        except Exception as exc:  # any driver error means not ready; say which
            self.database = describe(exc)
        return self.database

    def state(self, figures: ScanFigures) -> ScanState:
        """The scan state to publish: the last good scan's figures, the streaks, the interval."""
        health = ScanHealth(self.interval, self.scan.last_ok, self.scan, self.writes,
                            self.dispatch)  # fmt: skip
        return ScanState(figures, health)

    def view(self) -> dict[str, JSONValue]:
        """The streaks as JSON: what the daemon publishes with the scan state."""
        running = self.scan_running()
        scan = {**self.scan.view(),
                "running_s": round(running.total_seconds(), 1) if running else None}  # fmt: skip
        return {"scan": scan, "writes": self.writes.view(), "dispatch": self.dispatch.view()}


async def bounded(work: Coroutine[Any, Any, T], within: float) -> T:
    """Await ``work`` for at most ``within`` seconds, then raise TimeoutError.

    Unlike ``asyncio.wait_for`` it does not wait for the cancelled work to unwind: on a
    database that went silent, unwinding (returning the connection, a rollback) hangs too.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=within)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise TimeoutError(f"no answer within {within:g}s")
    return task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


def describe(error: BaseException) -> str:
    """Return one masked line for ``error``: the driver's own message, never the SQL.

    SQLAlchemy's text carries the statement and its parameters (addresses, names).
    """
    cause = getattr(error, "orig", None) or error
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    line = f"{type(cause).__name__}: {message}" if message else type(cause).__name__
    return mask(line)[:_ERROR_TEXT]

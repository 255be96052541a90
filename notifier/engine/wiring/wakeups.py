"""Wake the scan and the dispatcher when another process moves a check or send earlier.

The store tells of other processes' changes (``follow_changes``: LISTEN/NOTIFY on
PostgreSQL, ``PRAGMA data_version`` on SQLite); on each, after a short pause that folds
a burst of changes into one look, the earliest check and send are read (the first
entry of an index each) and handed to the scan and the dispatcher, which move their next look
earlier when it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from notifier.engine.monitor import PROBE_TIMEOUT, bounded, describe

log = structlog.get_logger("notifier.wake")
# Changes heard within this of each other cost one look: an import of many rows, a busy
# SQLite file whose every commit moves data_version.
FOLD = timedelta(milliseconds=20)
After = Callable[[datetime], None]


class WakeStore(Protocol):
    async def earliest_check(self) -> datetime | None: ...

    async def earliest_send(self) -> datetime | None: ...

    async def follow_changes(
        self, changed: Callable[[str], None], stopping: asyncio.Event
    ) -> None: ...


class Wakeups:
    """Hears of other processes' changes and hands the earliest instants on."""

    def __init__(self, store: WakeStore, scan_at: After, send_at: After) -> None:
        self.store = store
        self.scan_at = scan_at
        self.send_at = send_at
        self._changed = asyncio.Event()

    def changed(self, kind: str) -> None:
        """A change may have moved a check or a send earlier: look soon."""
        log.debug("wake.heard", kind=kind)
        self._changed.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Follow the store's changes until ``stopping`` is set."""
        feed = asyncio.create_task(self.store.follow_changes(self.changed, stopping))
        stop = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                heard = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait([heard, stop], return_when=asyncio.FIRST_COMPLETED)
                heard.cancel()
                if stopping.is_set():
                    break
                await asyncio.sleep(FOLD.total_seconds())
                self._changed.clear()
                await self.look()
        finally:
            stop.cancel()
            # Not waited for: a connection attempt to a silent database must not hold the
            # shutdown up (the feed closes its connection as it is cancelled).
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)

    async def look(self) -> None:
        """Read the earliest check and send; hand them to the scan and the dispatcher."""
        within = PROBE_TIMEOUT.total_seconds()
        try:
            check = await bounded(self.store.earliest_check(), within)
            send = await bounded(self.store.earliest_send(), within)
        except Exception as exc:  # the database is down: the interval scan covers
            log.warning("wake.look_failed", error=describe(exc))
            return
        if check is not None:
            self.scan_at(check)
        if send is not None:
            self.send_at(send)

"""SQLite's wake-ups across processes: ``PRAGMA data_version`` polled on its own connection.

SQLite has no LISTEN. ``PRAGMA data_version`` answers a number that changes whenever
another connection (another process's, or another of this process's pool) committed to
the file since the last time this connection asked; asking reads no table, only the
WAL index in shared memory (measured in bench/RESULTS.md). The daemon asks every
``POLL`` on one connection that never writes, and is told of any commit: it then looks
at the earliest check and send (two indexed ``min()``) and wakes what is due earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("notifier.wake")
POLL = 0.25  # seconds between two asks: a commit by another process is noticed within this
BACKOFF = 5.0  # seconds before opening the watching connection again after it failed
LISTENING = "listening"

Changed = Callable[[str], None]


async def follow(engine: AsyncEngine, changed: Changed, stopping: asyncio.Event) -> None:
    """Poll ``data_version`` until ``stopping`` is set; ``changed("commit")`` when it moves."""
    while not stopping.is_set():
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                await _watch(raw.driver_connection, changed, stopping)
        except Exception as exc:  # the file went away, a disk error: the interval scan covers
            log.warning("wake.watch_failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            await _pause(stopping, BACKOFF)


async def data_version(conn: object) -> int:
    """The connection's ``PRAGMA data_version`` (aiosqlite's connection, autocommit)."""
    cursor = await conn.execute("PRAGMA data_version")  # type: ignore[attr-defined]
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0])


async def _watch(conn: object, changed: Changed, stopping: asyncio.Event) -> None:
    last = await data_version(conn)
    changed(LISTENING)  # what changed before this connection asked went unseen
    while not stopping.is_set():
        await _pause(stopping, POLL)
        version = await data_version(conn)
        if version != last:
            last = version
            changed("commit")


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)

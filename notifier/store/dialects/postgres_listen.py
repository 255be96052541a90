"""PostgreSQL's wake-ups across processes: NOTIFY in the writer's transaction, LISTEN here.

A write that adds or moves a ``next_check_at`` or ``not_before`` earlier (the API, the
CLI, an import, another replica) sends ``NOTIFY notifier_wake, '<kind>'`` in its own
transaction, so the daemons hear of it once it commits and never before. Each daemon
listens on one dedicated asyncpg connection of its own, outside the pool: a pooled
connection would carry its LISTEN back into the pool, and a silent one could not be
dropped at once. A connection cut (an outage, a restart) ends the listening; it starts
again with backoff, and the caller is told each time it does, since what changed
meanwhile went unheard. A blackholed connection says nothing: a ping bounded in time
finds it out. Between the cut and the new LISTEN the interval scan is the safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger("notifier.wake")
CHANNEL = "notifier_wake"
LISTENING = "listening"  # the kind told when a LISTEN (re)starts: changes may have gone unheard
PING_EVERY = 5.0  # seconds between the listening connection's pings
PING_TIMEOUT = 5.0  # a ping unanswered this long means the connection is gone
CONNECT_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds before reconnecting, doubled each failure

Changed = Callable[[str], None]


async def announce(conn: AsyncConnection, kind: str) -> None:
    """NOTIFY the daemons of ``kind`` of change; delivered when ``conn``'s transaction commits."""
    statement = text("SELECT pg_notify(:channel, :kind)")
    await conn.execute(statement, {"channel": CHANNEL, "kind": kind})


async def follow(engine: AsyncEngine, changed: Changed, stopping: asyncio.Event) -> None:
    """LISTEN until ``stopping`` is set, calling ``changed(kind)`` for each NOTIFY heard."""
    _, options = engine.dialect.create_connect_args(engine.url)
    delay = BACKOFF_FIRST
    while not stopping.is_set():
        try:
            conn = await _within(asyncpg.connect(**options), CONNECT_TIMEOUT)
        except Exception as exc:  # the database is down: the interval scan covers the gap
            log.warning("wake.listen_failed", error=_describe(exc), retry_in=delay)
            await _pause(stopping, delay)
            delay = min(delay * 2, BACKOFF_MAX)
            continue
        try:
            await _listen(conn, changed, stopping)
            delay = BACKOFF_FIRST
        except Exception as exc:
            log.warning("wake.listen_lost", error=_describe(exc))
            delay = BACKOFF_FIRST
        finally:
            conn.terminate()  # at once: a close would wait on a silent peer


async def _listen(conn: Any, changed: Changed, stopping: asyncio.Event) -> None:
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    await _within(conn.add_listener(CHANNEL, lambda _c, _pid, _ch, kind: changed(kind)),
                  PING_TIMEOUT)  # fmt: skip
    log.info("wake.listening", channel=CHANNEL)
    changed(LISTENING)
    while not stopping.is_set():
        await _pause(stopping, PING_EVERY, lost)
        if lost.is_set():
            raise ConnectionError("the listening connection was closed")
        if not stopping.is_set():
            await _within(conn.fetchval("SELECT 1"), PING_TIMEOUT)


async def _within(work: Any, seconds: float) -> Any:
    """Await ``work`` for ``seconds`` at most; past that, leave it and raise TimeoutError.

    Not ``wait_for``: cancelling a query on a silent connection waits for the peer.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task], timeout=seconds)
    except asyncio.CancelledError:  # shutting down: the work goes too
        task.cancel()
        raise
    if not done:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        task.cancel()
        raise TimeoutError(f"no answer within {seconds:g}s")
    return task.result()


async def _pause(stopping: asyncio.Event, seconds: float, *also: asyncio.Event) -> None:
    """Sleep ``seconds``, or less when ``stopping`` (or one of ``also``) is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (stopping, *also)]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def _describe(exc: BaseException) -> str:
    text_ = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__

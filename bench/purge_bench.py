"""The retention purge against a large backlog, and the dispatch sending meanwhile.

The database holds ``old`` notifications 200 days old with three history lines each, on
``old // 2`` promises with two history lines each: half kept (deleted with their rows,
refs kept), half broken (they can still fire: their notifications are emptied and kept as
tombstones). Beside them, ``due`` fresh SMS notifications written by the real scan.

One process, as in ``notifier run``: the real ``Dispatcher.run`` sends the fresh ones to
the Twilio fake while ``Store.purge`` runs back to back in the daemon's own batches (1,000
rows a transaction, 20 a run) until the backlog is gone, far harder than the daemon's
one run a minute. The same dispatch is timed first on a twin database, no purge running.

    .venv/bin/python -m bench.purge_bench --old 100000 --due 5000 --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import DATABASES, Figure, Server, bench_now, clock_offset, database
from bench.dispatch_bench import THROUGHPUT_CONCURRENCY, channel_settings
from bench.generate import Ledger, fill
from bench.scan_bench import tick
from notifier.channels.registry import build_channels
from notifier.clock import SystemClock
from notifier.domain.published import PurgeFigures
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.wiring.jobs import PURGE_BATCH, PURGE_BATCHES
from notifier.store.store import Store
from notifier.store.types import UTCDateTime
from notifier.templates import Company, Renderer

RETENTION = timedelta(days=90)
AGE = timedelta(days=200)

# Portable SQL (a recursive series, no generate_series): customers, promises, then their
# notifications, history and promise history, all AGE old.
_SERIES = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
_OLD = [
    _SERIES + "INSERT INTO customers (id, name, locale, timezone, phone, opted_out, "
    "undeliverable, created_at, updated_at) SELECT 'old' || i, 'Old ' || i, 'es', "
    "'America/Argentina/Buenos_Aires', '+5491140' || (100000 + i), '[]', '{}', :old, :old "
    "FROM s",
    _SERIES + "INSERT INTO promises (customer_id, kind, status, due_at, attributes, "
    "external_ref, deadline_version, times_broken, next_check_at, status_changed_at, "
    "created_at, updated_at, plan_errors) SELECT 'old' || (1 + i % :customers), 'delivery', "
    "CASE WHEN i % 2 = 0 THEN 'kept' ELSE 'broken' END, :old, '{}', 'old-' || i, 1, 1, NULL, "
    ":old, :old, :old, 0 FROM s",
    "INSERT INTO notifications (dedupe_key, customer_id, promise_id, rule_id, message, stage, "
    "step, priority, channel_choice, fallback, failed_channels, channel, address, status, "
    "not_before, attempts, provider_id, body, payload, created_at, updated_at, sent_at) "
    "SELECT 'delivery-late:' || p.id || ':1:' || k.step, p.customer_id, p.id, "
    "'delivery-late', 'delivery_late', 'late', k.step, 'high', 'last_used', '[\"sms\"]', "
    "'[]', 'sms', '+5491140000000', 'delivered', :old, 1, 'SM' || p.id || 'x' || k.step, "
    "'Acme: perdón, tu pedido se demora. Lo seguimos de cerca.', '{}', :old, :old, :old "
    "FROM promises p CROSS JOIN (SELECT 0 AS step UNION ALL SELECT 1) k "
    "WHERE p.external_ref LIKE 'old-%'",
    "INSERT INTO notification_events (notification_id, at, type, channel, reason, detail) "
    "SELECT n.id, :old, e.type, 'sms', 'accepted by the provider', '{}' FROM notifications n "
    "CROSS JOIN (SELECT 'claimed' AS type UNION ALL SELECT 'sent' UNION ALL "
    "SELECT 'delivered') e WHERE n.dedupe_key LIKE 'delivery-late:%' AND n.created_at = :old",
    "INSERT INTO promise_events (promise_id, type, at, source, deadline_version, data) "
    "SELECT p.id, e.type, :old, 'daemon', 1, '{}' FROM promises p CROSS JOIN "
    "(SELECT 'created' AS type UNION ALL SELECT 'broken') e WHERE p.external_ref LIKE 'old-%'",
]


def _statement(sql: str, dialect: str) -> TextClause:
    if dialect != "sqlite":  # PostgreSQL takes no text literal for a JSON column
        for literal in ("'{}'", "'[]'", "'[\"sms\"]'"):
            sql = sql.replace(literal, f"CAST({literal} AS JSON)")
    return text(sql).bindparams(bindparam("old", type_=UTCDateTime()))


async def _old_backlog(url: str, old: int, now: datetime) -> None:
    store = Store.open(url)
    customers = max(1, old // 20)
    statements = [_statement(sql, store.engine.dialect.name) for sql in _OLD]
    params = {"old": now - AGE, "customers": customers}
    try:
        async with store.transaction() as conn:
            await conn.execute(statements[0], {**params, "n": customers})
            await conn.execute(statements[1], {**params, "n": old // 2})
            for statement in statements[2:]:
                await conn.execute(statement, params)
        async with store.engine.connect() as conn:  # fresh statistics for the planner
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await store.close()


class _TimedStore(Store):
    """The store, timing each transaction (each purge batch is one)."""

    took: list[float]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        started = time.perf_counter()
        async with super().transaction() as conn:
            yield conn
        self.took.append(time.perf_counter() - started)


async def _run(url: str, server: Server, due: int, now: datetime, purge: bool) -> dict[str, Any]:
    settings = channel_settings("sms", server, dispatch_concurrency=THROUGHPUT_CONCURRENCY)
    channels = build_channels(settings.providers, demo=False)
    composer = Composer(Renderer.from_settings(settings.render),
                        Company.from_settings(settings.messages), settings.messages,
                        settings.links)  # fmt: skip
    store = Store.open(url)
    clock = SystemClock(clock_offset(now))
    dispatcher = Dispatcher(store, channels, composer, clock, settings.dispatch, settings.scan)
    stopping = asyncio.Event()
    runs: list[tuple[float, PurgeFigures]] = []
    purger = _TimedStore.open(url)
    purger.took = []

    async def purging() -> None:
        while True:
            started = time.perf_counter()
            at = clock.now()
            figures = await purger.purge(at - RETENTION, at, batch=PURGE_BATCH,
                                         max_batches=PURGE_BATCHES)  # fmt: skip
            runs.append((time.perf_counter() - started, figures))
            if figures.complete:
                return

    started = time.perf_counter()
    sending = asyncio.create_task(dispatcher.run(stopping))
    purge_task = asyncio.create_task(purging()) if purge else None
    while await asyncio.to_thread(server.count) < due:  # noqa: ASYNC110  # another process counts
        await asyncio.sleep(0.1)
    sent_s = time.perf_counter() - started
    if purge_task is not None:
        await purge_task
    purge_s = time.perf_counter() - started
    stopping.set()
    await sending
    await channels.aclose()
    await store.close()
    await purger.close()
    return {"sent_s": sent_s, "purge_s": purge_s, "runs": runs, "batches": sorted(purger.took)}


def measure(kind: str, old: int, due: int) -> list[Figure]:
    """Dispatch ``due`` notices alone, then again while ``old`` old ones are purged."""
    results = {}
    for purge in (False, True):
        now = bench_now()
        with database(kind, f"purge{int(purge)}") as url:
            fill(url, Ledger(open_promises=due, due=due, now=now, channel="sms"))
            asyncio.run(tick(url, now))
            asyncio.run(_old_backlog(url, old, now))
            with Server("twilio") as server:
                results[purge] = asyncio.run(_run(url, server, due, now, purge))
    alone, with_purge = results[False], results[True]
    runs: list[tuple[float, PurgeFigures]] = with_purge["runs"]
    total = PurgeFigures()
    for _, f in runs:
        total += f
    busy = sum(s for s, _ in runs)
    took = with_purge["batches"] or [0.0]
    p50, p99, worst = took[len(took) // 2], took[int(len(took) * 0.99)], took[-1]
    rate_alone, rate_with = due / alone["sent_s"], due / with_purge["sent_s"]
    case = f"{old:,} old notifications (+{3 * old:,} history), {due:,} SMS sending"
    return [
        Figure("purge", kind, case, total.batches / busy, "batches/s", "", None,
               f"{total.rows:,} rows in {busy:.1f} s ({total.rows / busy:,.0f} rows/s), "
               f"{len(runs)} runs of <= {PURGE_BATCHES} batches of {PURGE_BATCH}: "
               f"{total.promises:,} promises and {total.notifications:,} notifications "
               f"deleted, {total.scrubbed:,} emptied, {total.notification_events:,} + "
               f"{total.promise_events:,} history lines; a batch's transaction p50 "
               f"{p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms"),
        Figure("purge: dispatch meanwhile", kind, case, rate_with, "sends/s", "", None,
               f"{rate_alone:,.0f}/s alone on a twin database "
               f"({rate_with / rate_alone:.0%} of it while purging)"),
    ]  # fmt: skip


def main() -> None:
    """Run the purge benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.purge_bench")
    parser.add_argument("--old", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=5_000)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="postgres")
    args = parser.parse_args()
    for kind in DATABASES if args.db == "both" else (args.db,):
        for f in measure(kind, args.old, args.due):
            print(" | ".join(f.cells()), flush=True)


if __name__ == "__main__":
    main()

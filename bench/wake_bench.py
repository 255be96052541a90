"""Due to accepted: a notice is accepted by its scheduled instant plus 1 s, scan interval 30 s.

``notifier run`` scans every 30 s (``NOTIFIER_SCAN_INTERVAL``), yet should wake at each
promise's scheduled instant (its stage's ``next_check_at``). The ledger holds ``due``
promises whose checks are spread over the near future, one every ``every`` seconds from
``lead`` seconds after the daemon starts, among ``idle`` open ones checked hours later;
each due promise has its own customer and phone. The Twilio fake, in its own process,
stamps when each message arrived (wall clock). The latency of promise ``i`` is its
arrival minus the wall instant its check falls at: the daemon's clock reads the system
clock plus NOTIFIER_TIME_OFFSET, so check ``C`` falls at ``C - offset`` on the wall.

    .venv/bin/python -m bench.wake_bench --db both --due 120 --every 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from datetime import timedelta

from bench.common import (
    DATABASES,
    Figure,
    Server,
    bench_now,
    clock_offset,
    database,
    record,
    wait_for,
)
from bench.generate import FIRES_AFTER, Ledger, fill, phone
from bench.latency_bench import daemon, daemon_env, free_port, is_ready, percentile
from notifier.clock import SystemClock
from notifier.domain.ingest import PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.ingest.ledger_service import Ledger as LedgerService
from notifier.store.dialects.sqlite_watch import POLL, data_version
from notifier.store.store import Store

SCAN_INTERVAL = "30s"
TARGET = 1.0  # seconds after the scheduled instant, at p99


def run(kind: str, due: int, every: float, idle: int, lead: float = 15.0) -> list[Figure]:
    """Measure due-to-accepted latency for ``due`` checks ``every`` seconds apart."""
    now = bench_now()
    with database(kind, "wake") as url, Server("twilio") as server:
        start = now + timedelta(seconds=lead)
        fill(url, Ledger(open_promises=due + idle, due=due, now=now, due_start=start,
                         due_every=timedelta(seconds=every)))  # fmt: skip
        # The ledger took a while: push the checks' instants so the first is ``lead`` ahead.
        offset = clock_offset(now)
        env = {**daemon_env(url, server.url, offset, port := free_port()),
               "NOTIFIER_SCAN_INTERVAL": SCAN_INTERVAL}  # fmt: skip
        wall_offset = offset.total_seconds()
        with daemon(env) as (child, _):
            wait_for(lambda: is_ready(port) or child.poll() is not None, timeout=60)
            horizon = lead + due * every + 60
            wait_for(lambda: server.count() >= due or child.poll() is not None,
                     timeout=horizon, every=0.5)  # fmt: skip
            arrivals = server.arrivals()
    checks = [(start + timedelta(seconds=every * i)).timestamp() - wall_offset for i in range(due)]
    latencies = [arrivals[phone(i)] - checks[i] for i in range(due) if phone(i) in arrivals]
    case = (f"{due} checks {every:g} s apart among {idle:,} idle open, "
            f"scan interval {SCAN_INTERVAL}")  # fmt: skip
    return _figures(kind, case, latencies, due, "from the check's instant")


def live(kind: str, due: int, every: float, idle: int) -> list[Figure]:
    """Promises written by another process (this one) while the daemon runs, each due at once.

    The latency of each is its apology's arrival minus the instant its write committed:
    the daemon learns of it only through LISTEN/NOTIFY (PostgreSQL) or data_version
    (SQLite), since the next 30 s tick may be far.
    """
    now = bench_now()
    with database(kind, "wake_live") as url, Server("twilio") as server:
        # ``due`` customers whose own generated promise is checked 40 days on: never now.
        fill(url, Ledger(open_promises=due + idle, due=due, now=now,
                         due_start=now + timedelta(days=40)))  # fmt: skip
        offset = clock_offset(now)
        env = {**daemon_env(url, server.url, offset, port := free_port()),
               "NOTIFIER_SCAN_INTERVAL": SCAN_INTERVAL}  # fmt: skip
        with daemon(env) as (child, _):
            wait_for(lambda: is_ready(port) or child.poll() is not None, timeout=60)
            time.sleep(2.0)  # past the start-up scan: what follows comes only from wake-ups
            committed = asyncio.run(_write_live(url, offset, due, every))
            wait_for(lambda: server.count() >= due or child.poll() is not None,
                     timeout=60, every=0.5)  # fmt: skip
            arrivals = server.arrivals()
    latencies = [arrivals[phone(i)] - committed[i] for i in range(due) if phone(i) in arrivals]
    return _figures(kind, f"{due} promises written by another process {every:g} s apart, "
                    f"each due at once, among {idle:,} idle open, scan interval "
                    f"{SCAN_INTERVAL}", latencies, due, "from commit")  # fmt: skip


async def _write_live(url: str, offset: timedelta, due: int, every: float) -> list[float]:
    """Write one overdue delivery for each customer, ``every`` seconds apart; commit times."""
    store = Store.open(url)
    ledger = LedgerService(store, SystemClock(offset))
    committed = []
    try:
        for i in range(due):
            overdue = ledger.clock.now() - FIRES_AFTER["delivery"] - timedelta(seconds=1)
            item = PromiseData(CustomerId(f"c{i:07d}"), "delivery", overdue, f"live-{i}",
                               attributes={"carrier": "oca", "order_id": f"L-{i}"})  # fmt: skip
            await ledger.put_promises([item], Source.CLI)
            committed.append(time.time())
            await asyncio.sleep(every)
    finally:
        await store.close()
    return committed


def _figures(kind: str, case: str, latencies: list[float], due: int, since: str) -> list[Figure]:
    if not latencies:
        raise SystemExit(f"{kind}: nothing arrived")
    early = sum(1 for x in latencies if x < 0)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    note = (f"{len(latencies)} of {due} arrived; min {min(latencies):.3f} s, "
            f"max {max(latencies):.3f} s; {early} before the instant ({since})")  # fmt: skip
    return [
        Figure("due to accepted p50", kind, case, p50, "s", "", None, note),
        Figure("due to accepted p99", kind, case, p99, "s", f"<= {TARGET:g} s",
               p99 <= TARGET and early == 0 and len(latencies) == due, note),
    ]  # fmt: skip


def cost(kind: str, promises: int, asks: int = 2000) -> list[Figure]:
    """What waking costs: ``PRAGMA data_version`` (SQLite) and the two ``min()`` per look."""
    now = bench_now()
    with database(kind, "wake_cost") as url:
        fill(url, Ledger(open_promises=promises, due=promises // 10, now=now))
        return asyncio.run(_cost(kind, url, promises, asks))


async def _cost(kind: str, url: str, promises: int, asks: int) -> list[Figure]:
    store = Store.open(url)
    figures = []
    try:
        await store.earliest_check()  # connect and warm up
        started = time.perf_counter()
        for _ in range(asks // 10):
            await store.earliest_check()
            await store.earliest_send()
        look = (time.perf_counter() - started) / (asks // 10)
        figures.append(Figure("wake look", kind, f"earliest check + send, {promises:,} promises",
                              look * 1000, "ms", "", None, "two first entries of an index, "
                              "a pooled connection each"))  # fmt: skip
        if kind == "sqlite":
            async with store.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                started = time.perf_counter()
                for _ in range(asks):
                    await data_version(raw)
                took = (time.perf_counter() - started) / asks
                after = resource.getrusage(resource.RUSAGE_SELF)
            used = (after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime) / asks
            figures.append(Figure("wake poll", kind, "PRAGMA data_version, one ask",
                                  took * 1e6, "us", "", None,
                                  f"{used * 1e6:.0f} us CPU an ask; every {POLL:g} s: "
                                  f"{used / POLL * 100:.3f} % of a core"))  # fmt: skip
    finally:
        await store.close()
    return figures


def main() -> None:
    """Run the wake-up benchmark alone; with ``--record``, append it to RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.wake_bench")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--due", type=int, default=120)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument(
        "--cost",
        type=int,
        default=100_000,
        help="the promises a look's cost is measured on (0: not measured)",
    )
    parser.add_argument(
        "--live",
        type=int,
        default=60,
        help="promises written by another process meanwhile (0: none)",
    )
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--note", action="append", default=[], help="a note for the record")
    args = parser.parse_args()
    started = time.perf_counter()
    figures: list[Figure] = []
    for kind in DATABASES if args.db == "both" else (args.db,):
        found = run(kind, args.due, args.every, args.idle)
        found += live(kind, args.live, args.every, args.idle) if args.live else []
        if args.cost:
            found += cost(kind, args.cost)
        for f in found:
            print(" | ".join(f.cells()), flush=True)
        figures += found
    if args.record:
        shown = [a for i, a in enumerate(sys.argv[1:]) if "--note" not in (a, sys.argv[i])]
        command = " ".join(["python -m bench.wake_bench", *shown])  # the notes follow
        record(figures, command, args.note, time.perf_counter() - started)


if __name__ == "__main__":
    main()

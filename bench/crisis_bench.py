"""A crisis at the scale of a real strike: 100,000 customers (200,000 promises) among
1,000,000 open promises, planned in seconds; the first apology at the provider soon after.

The ledger: ``--open`` open promises; customers ``c0000000`` to ``affected - 1`` have two
deliveries each with ``carrier=andreani, region=AMBA``, the segment; every other promise
belongs to one of the other customers and never has that pair. Every customer's last used
channel is SMS.

- **plan**: in a child process (its peak RSS is its own, ``VmHWM``), an incident over the
  segment is opened through the incidents service and ``plan_incidents`` runs once: the
  affected set is found and one ``crisis_opened`` row per customer written. The figure is
  that call's wall time, the target is under 10 s on PostgreSQL and 300 MB peak RSS.
- **first apology**: the rows are dropped; ``notifier run`` runs with the Twilio fake in
  its own process; ``notifier incident open`` is run as ops would; the figure is the
  command's exit to the first message the fake accepts (target 2 s), and its launch to it.
- **rate**: the same run goes on at ``NOTIFIER_RATE_SMS`` segments a second; the figure is
  the segments accepted over a window that starts once every apology is planned, against
  the rate (target within 2 %, never above: a window's count is at most the rate plus one
  text). The pace while the fan-out was being planned is noted beside it.

    .venv/bin/python -m bench.crisis_bench [--db postgres|sqlite|both] [--affected N]
        [--open N] [--rate R] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs

from bench.common import (
    DATABASES,
    ROOT,
    Figure,
    Server,
    bench_now,
    child_args,
    clock_offset,
    database,
    emit,
    record,
    run_child,
    wait_for,
)
from bench.generate import (
    CARRIERS,
    CUSTOMER_COLUMNS,
    PROMISE_COLUMNS,
    REGIONS,
    Ledger,
    _fill_pg,
    _fill_sqlite,
    customer_rows,
)
from bench.latency_bench import daemon, daemon_env, free_port, is_ready
from bench.ratelimit_bench import worst_window

MATCH = ("kind=delivery", "attributes.carrier=andreani", "attributes.region=AMBA")
TARGET_PLAN = 10.0  # seconds, PostgreSQL
TARGET_RSS = 300.0  # MB
TARGET_FIRST = 2.0  # seconds from `incident open` to the first apology accepted
RATE_WINDOW = 20.0  # seconds of dispatch the rate is measured over


def ledger_rows(affected: int, open_promises: int, now: datetime) -> tuple[list[Any], list[Any]]:
    """Return the customers and promises rows (see the module's docstring)."""
    customers = customer_rows(Ledger(open_promises=open_promises, due=0, now=now,
                                     channel="sms"))  # fmt: skip
    total = len(customers)
    assert total > affected, f"{total} customers cannot hold {affected} affected and others"
    created = now - timedelta(days=1)
    rows = []
    for i in range(open_promises):
        if i < 2 * affected:
            customer, carrier, region = i // 2, "andreani", "AMBA"
        else:
            customer = affected + i % (total - affected)
            carrier, region = CARRIERS[i % len(CARRIERS)], REGIONS[(i // 7) % len(REGIONS)]
            if (carrier, region) == ("andreani", "AMBA"):
                region = "Córdoba"
        due_at = now + timedelta(hours=2, seconds=i % 86_400)
        attributes = {"order_id": f"A-{1_000_000 + i}", "carrier": carrier, "region": region}
        rows.append((i + 1, f"c{customer:07d}", "delivery", "open", due_at, None, None,
                     json.dumps(attributes), f"ord-{i:08d}", 1, 0, due_at + timedelta(hours=1),
                     created, created, created))  # fmt: skip
    assert len(CUSTOMER_COLUMNS) == len(customers[0]) and len(PROMISE_COLUMNS) == len(rows[0])
    return customers, rows


def fill(url: str, affected: int, open_promises: int, now: datetime) -> None:
    customers, promises = ledger_rows(affected, open_promises, now)
    if url.startswith("sqlite"):
        _fill_sqlite(url.split("///", 1)[1], customers, promises)
    else:
        asyncio.run(_fill_pg(url, customers, promises))


# -- the child: one planning pass ------------------------------------------------------------


async def _plan_child(url: str, now: datetime) -> dict[str, object]:
    from notifier.clock import SystemClock
    from notifier.domain.incidents import Severity
    from notifier.engine.crisis.commands import Incidents
    from notifier.engine.crisis.planner import plan_incidents
    from notifier.engine.crisis.texts import Texts
    from notifier.process import tune_gc
    from notifier.store.store import Store

    tune_gc()  # as `notifier run` does
    store = Store.open(url)
    try:
        clock = SystemClock(clock_offset(now))
        service = Incidents(store, clock, None)
        iid = await service.open(
            titles=Texts("Paro de transportistas en AMBA", (), "--title"), messages=Texts(None),
            severity=Severity.MAJOR, match=list(MATCH), estimate=None, by="bench",
        )  # fmt: skip
        began = time.perf_counter()
        rows = await plan_incidents(store, clock.now(), None)
        seconds = time.perf_counter() - began
        counts = await store.incident_counts(iid, clock.now())
    finally:
        await store.close()
    return {"seconds": seconds, "rows": rows, "affected": counts.affected}


# -- the parent ------------------------------------------------------------------------------


async def _reset(url: str) -> None:
    """Drop the planned incident and its rows, for the live run."""
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.split("///", 1)[1])
        try:
            for table in ("notification_events", "notifications", "incident_customers",
                          "incident_updates", "incidents"):  # fmt: skip
                db.execute(f"DELETE FROM {table}")
            db.commit()
        finally:
            db.close()
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("TRUNCATE notification_events, notifications, incident_customers, "
                           "incident_updates, incidents CASCADE")  # fmt: skip
    finally:
        await conn.close()


def run(
    kind: str, affected: int, open_promises: int, rate: int, window: float = RATE_WINDOW
) -> list[Figure]:
    now = bench_now()
    figures: list[Figure] = []
    case = f"{affected:,} customers, {2 * affected:,} promises among {open_promises:,} open"
    with database(kind, "crisis") as url:
        began = time.perf_counter()
        fill(url, affected, open_promises, now)
        print(f"{kind}: ledger written in {time.perf_counter() - began:.0f} s", flush=True)
        result, rss = run_child("bench.crisis_bench", {"child": "plan", "url": url,
                                                       "now": now.isoformat()})  # fmt: skip
        seconds = float(result["seconds"])
        told = int(result["rows"])
        strict = kind == "postgres"
        figures.append(Figure("crisis plan", kind, case, seconds, "s",
                              f"< {TARGET_PLAN:.0f} s (PostgreSQL)",
                              seconds < TARGET_PLAN if strict else None,
                              f"{told:,} apologies planned for {result['affected']:,} affected "
                              f"({told / seconds:,.0f} rows/s)"))  # fmt: skip
        figures.append(Figure("crisis plan", kind, f"{case}, peak RSS", rss, "MB",
                              f"< {TARGET_RSS:.0f} MB", rss < TARGET_RSS))  # fmt: skip
        assert told == affected, f"{told} apologies planned for {affected} affected customers"
        asyncio.run(_reset(url))
        figures += _live(kind, url, now, affected, rate, window)
    return figures


def _live(
    kind: str, url: str, now: datetime, affected: int, rate: int, seconds: float
) -> list[Figure]:
    with Server("twilio") as server:
        offset = clock_offset(now)
        env = {**daemon_env(url, server.url, offset, port := free_port()),
               "NOTIFIER_SCAN_INTERVAL": "1h", "NOTIFIER_RATE_SMS": str(rate)}  # fmt: skip
        with daemon(env) as (child, _):
            if not wait_for(lambda: is_ready(port) or child.poll() is not None, timeout=120):
                raise SystemExit("the daemon did not become ready")
            if child.poll() is not None:
                raise SystemExit(f"the daemon exited: {child.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
            args = [sys.executable, "-m", "notifier", "incident", "open", "--title",
                    "Paro de transportistas en AMBA", "--by", "bench",
                    *(x for m in MATCH for x in ("--match", m))]  # fmt: skip
            launched = time.time()
            opening = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)  # fmt: skip
            assert opening.stdout is not None
            printed = opening.stdout.readline()  # the id, once the incident is committed
            opened = time.time()
            if opening.wait(timeout=60) != 0 or not printed.strip().isdigit():
                raise SystemExit(f"incident open failed: {opening.communicate()[1]}")
            wait_for(lambda: server.count() > 0, timeout=60, every=0.01)
            first = min(server.arrivals().values(), default=float("nan"))
            # The rate is measured once every apology is planned: while the fan-out is
            # being found, the database's statements share this machine's two cores with
            # the daemon's sends (a production database has its own).
            if not wait_for(lambda: _planned(url) >= affected, timeout=120, every=0.2):
                raise SystemExit("the fan-out was not planned within 120 s")
            planned = time.time()
            time.sleep(seconds + 3)
            arrivals = server.arrivals()
            costs = server.costs()
            series = _metrics(port)
    figures = [
        Figure("crisis first apology", kind, "`incident open` prints its id -> first accepted",
               first - opened, "s", f"< {TARGET_FIRST:.0f} s", first - opened < TARGET_FIRST,
               f"from the command's launch: {first - launched:.2f} s (Python's start-up "
               "and the command's checks included)"),
    ]  # fmt: skip
    before = [(t, costs.get(to, 1.0)) for to, t in arrivals.items() if t < planned]
    during = sum(c for _, c in before) / max(planned - first, 1e-9)
    start = max(first + 2.0, planned + 1.0)  # planned, and past the first second
    window = [(t, costs.get(to, 1.0)) for to, t in arrivals.items() if start <= t < start + seconds]
    segments = sum(c for _, c in window)
    per_second = segments / seconds
    ordered = sorted(window)
    worst = worst_window([t for t, _ in ordered], [c for _, c in ordered])
    per_text = max((c for _, c in window), default=1.0)
    within = abs(per_second - rate) <= 0.02 * rate and worst <= rate + per_text
    lost = series.get('notifier_rate_slots_lost_total{channel="sms"}', 0.0)
    batches = series.get("notifier_dispatch_duration_seconds_count", 0.0)
    decide_ms = 1000 * series.get("notifier_dispatch_duration_seconds_sum", 0.0) / max(batches, 1)
    figures.append(Figure("crisis dispatch", kind, f"SMS at NOTIFIER_RATE_SMS={rate}",
                          per_second, "segments/s", f"within 2% of {rate}, never above", within,
                          f"{len(window):,} apologies in {seconds:.0f} s; worst 1-s window "
                          f"{worst:.0f} segments (rate + one text: {rate + per_text:.0f}); "
                          f"the whole fan-out takes {affected * per_text / rate / 60:.0f} min "
                          f"at this rate; {lost:.0f} slots lost at the fence, claim batches "
                          f"decided in {decide_ms:.0f} ms on average; while the fan-out was "
                          f"being planned ({planned - first:.1f} s after the first apology) "
                          f"{during:.0f} segments/s"))  # fmt: skip
    return figures


def _planned(url: str) -> int:
    """How many crisis rows the database holds (the bench's one incident's)."""
    query = "SELECT count(*) FROM notifications WHERE incident_id IS NOT NULL"
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.split("///", 1)[1], timeout=30)
        try:
            return int(db.execute(query).fetchone()[0])
        finally:
            db.close()

    async def count() -> int:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    return asyncio.run(count())


def _metrics(port: int) -> dict[str, float]:
    """The daemon's Prometheus series (name with labels -> value), read from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        args = child_args()
        emit(asyncio.run(_plan_child(args["url"], datetime.fromisoformat(args["now"]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=(*DATABASES, "both"), default="postgres")
    parser.add_argument("--affected", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=200, help="NOTIFIER_RATE_SMS, segments/s")
    parser.add_argument("--window", type=float, default=RATE_WINDOW, help="seconds of rate")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    options = parser.parse_args()
    began = time.perf_counter()
    figures: list[Figure] = []
    for kind in DATABASES if options.db == "both" else (options.db,):
        figures += run(kind, options.affected, options.open, options.rate, options.window)
    for f in figures:
        print(" | ".join(f.cells()))
    if options.record:
        command = "python -m bench.crisis_bench " + " ".join(sys.argv[1:])
        record(figures, command, [], time.perf_counter() - began)


if __name__ == "__main__":
    main()

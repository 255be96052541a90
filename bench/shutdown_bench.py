"""Shutdown: SIGTERM to exit with sends in flight at a provider slower than the grace.

.venv/bin/python -m bench.shutdown_bench --db sqlite

The target is NOTIFIER_SHUTDOWN_GRACE plus the wrap-up (WRAP_UP: the last outcome
writes and the release of what was claimed but not attempted) plus process teardown.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from datetime import timedelta

from sqlalchemy import Engine, create_engine, text

from bench.common import (
    DATABASES,
    Figure,
    Server,
    bench_now,
    clock_offset,
    database,
    sync_url,
    wait_for,
)
from bench.generate import Ledger, fill
from bench.latency_bench import daemon, daemon_env, free_port, is_ready
from notifier.engine.delivery.dispatcher import WRAP_UP

GRACE = timedelta(seconds=2)
LATENCY_MS = 4_000  # each send outlasts the grace
DUE = 1_000
IN_FLIGHT = 32


def _in_flight(engine: Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM notifications WHERE status = 'sending'"
        return int(conn.execute(text(query + " AND attempted_at IS NOT NULL")).scalar_one())


def run(kind: str) -> Figure:
    """Time SIGTERM to exit while a wave of sends waits on the slow provider."""
    now = bench_now()
    target = (GRACE + WRAP_UP).total_seconds() + 1.0
    with database(kind, "shutdown") as url, Server("twilio", LATENCY_MS) as server:
        fill(url, Ledger(open_promises=DUE, due=DUE, now=now))
        engine = create_engine(sync_url(url))
        port = free_port()
        env = daemon_env(url, server.url, clock_offset(now), port)
        env["NOTIFIER_SHUTDOWN_GRACE"] = f"{GRACE.total_seconds():g}s"
        with daemon(env) as (child, _):
            wait_for(lambda: is_ready(port), 60, every=0.05)
            # Attempted and not answered yet: sends in flight, inside the latency.
            wait_for(lambda: _in_flight(engine) >= IN_FLIGHT, 120, every=0.05)
            flying = _in_flight(engine)
            signalled = time.perf_counter()
            child.send_signal(signal.SIGTERM)
            try:
                code = child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                code = None
            seconds = time.perf_counter() - signalled
        engine.dispose()
    ok = code == 0 and seconds < target
    note = (f"grace {GRACE.total_seconds():g} s, provider {LATENCY_MS} ms, "
            f"{flying} in flight at SIGTERM, exit {code}")  # fmt: skip
    return Figure("shutdown", kind, f"{DUE:,} due, sends in flight", seconds, "s",
                  f"< {target:g} s", ok, note)  # fmt: skip


def main() -> None:
    """Run the shutdown benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.shutdown_bench")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    args = parser.parse_args()
    for kind in DATABASES if args.db == "both" else (args.db,):
        print(" | ".join(run(kind).cells()), flush=True)


if __name__ == "__main__":
    main()

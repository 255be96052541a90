"""Start-up: from spawning ``notifier run`` to ``/readyz`` answering 200, on a large ledger.

.venv/bin/python -m bench.startup_bench --db sqlite --promises 1000000
"""

from __future__ import annotations

import argparse
import time

from bench.common import DATABASES, Figure, Server, bench_now, clock_offset, database, wait_for
from bench.generate import Ledger, fill
from bench.latency_bench import daemon, daemon_env, free_port, is_ready

TARGET_SECONDS = 2.0


def run(kind: str, promises: int) -> Figure:
    """Time ``notifier run`` to ready with ``promises`` open promises in the store."""
    now = bench_now()
    with database(kind, "startup") as url, Server("twilio") as server:
        fill(url, Ledger(open_promises=promises, due=0, now=now))
        port = free_port()
        with daemon(daemon_env(url, server.url, clock_offset(now), port)) as (child, spawned):
            ready = wait_for(lambda: is_ready(port) or child.poll() is not None, 60, every=0.01)
            seconds = time.perf_counter() - spawned
            ok = ready and child.poll() is None
    case = f"{promises:,} open promises in the store"
    note = "spawn to /readyz 200" if ok else "DID NOT BECOME READY"
    return Figure("start-up", kind, case, seconds, "s", f"< {TARGET_SECONDS:.0f} s",
                  ok and seconds < TARGET_SECONDS, note)  # fmt: skip


def main() -> None:
    """Run the start-up benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.startup_bench")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--promises", type=int, default=1_000_000)
    args = parser.parse_args()
    for kind in DATABASES if args.db == "both" else (args.db,):
        print(" | ".join(run(kind, args.promises).cells()), flush=True)


if __name__ == "__main__":
    main()

"""Latency: from a promise's check falling due to the provider accepting the apology.

``notifier run`` runs as a subprocess on a ledger whose due promises cross their check at a
steady rate (``rate`` a second for ``seconds``), among idle open ones; the Twilio fake in
its own process notes when each recipient's message arrived. Every customer has one due
promise and a phone of their own, so an arrival maps back to its instant.

    .venv/bin/python -m bench.latency_bench --db sqlite --seconds 20 --rate 50
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

from bench.common import (
    DATABASES,
    ROOT,
    Figure,
    Server,
    bench_now,
    clock_offset,
    database,
    wait_for,
)
from bench.generate import Ledger, fill, phone
from notifier.domain.durations import format_duration
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

SCAN_INTERVAL = timedelta(seconds=5)
MARGIN = timedelta(seconds=2)  # the target: p99 at most the scan interval plus this


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def daemon_env(url: str, twilio: str, offset: timedelta, port: int) -> dict[str, str]:
    """Return the environment of a ``notifier run`` aimed at ``url`` and the Twilio fake."""
    return {
        **os.environ,
        "NOTIFIER_DATABASE_URL": url, "NOTIFIER_HTTP_PORT": str(port),
        "NOTIFIER_TIME_OFFSET": format_duration(offset) if offset else "0s",
        "NOTIFIER_SCAN_INTERVAL": format_duration(SCAN_INTERVAL),
        "NOTIFIER_RULES_DIR": str(ROOT / "rules"),
        "NOTIFIER_TEMPLATES_DIR": str(ROOT / "templates"),
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "NOTIFIER_TWILIO_FROM": "+15017122661", "NOTIFIER_TWILIO_BASE_URL": twilio,
        "NOTIFIER_RATE_SMS": "1000000000", "NOTIFIER_LOG_LEVEL": "WARNING",
        "NOTIFIER_API_TOKEN": "bench-token",
    }  # fmt: skip


def is_ready(port: int) -> bool:
    """True when the daemon's /readyz answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


@contextlib.contextmanager
def daemon(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Run ``notifier run``; yield it and the instant it was spawned; SIGTERM it after."""
    spawned = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "notifier", "run"], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield child, spawned
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def percentile(values: list[float], p: float) -> float:
    """Return the ``p`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run(kind: str, seconds: int, rate: int, background: int) -> list[Figure]:
    """Measure the latency under a steady load of due promises on database ``kind``."""
    due = seconds * rate
    now = bench_now()
    offset = clock_offset(now)
    # The daemon's clock reads ``now`` at start; the first checks fall 10 s later.
    start = now + timedelta(seconds=10)
    every = timedelta(seconds=1 / rate)
    with database(kind, "latency") as url, Server("twilio") as server:
        fill(url, Ledger(open_promises=due + background, due=due, now=now, due_start=start,
                         due_every=every))  # fmt: skip
        offset = clock_offset(now)  # the ledger took a while: the daemon's clock reads now
        origin = time.time()
        with daemon(daemon_env(url, server.url, offset, free_port())) as (child, _):
            wait_for(lambda: server.count() >= due or child.poll() is not None,
                     timeout=seconds + 10 + 60, every=0.5)  # fmt: skip
            arrivals = server.arrivals()
        if child.returncode not in (0, None, -signal.SIGTERM):
            raise SystemExit(f"notifier run failed: {child.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    # Check i falls at start + i*every on the daemon's clock, i.e. origin + (that - now) real.
    base = origin + (start - now).total_seconds()
    latencies = [arrivals[phone(i)] - (base + i / rate) for i in range(due) if phone(i) in arrivals]
    target = (SCAN_INTERVAL + MARGIN).total_seconds()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    case = f"{rate}/s due for {seconds} s among {background:,} idle open, scan every 5 s"
    note = f"{len(latencies):,} of {due:,} arrived; max {max(latencies):.2f} s"
    return [Figure("latency p50", kind, case, p50, "s", "", None, note),
            Figure("latency p99", kind, case, p99, "s", f"<= {target:.0f} s", p99 <= target,
                   note)]  # fmt: skip


def main() -> None:
    """Run the latency benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency_bench")
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--background", type=int, default=10_000)
    args = parser.parse_args()
    for kind in DATABASES if args.db == "both" else (args.db,):
        for f in run(kind, args.seconds, args.rate, args.background):
            print(" | ".join(f.cells()), flush=True)


if __name__ == "__main__":
    main()

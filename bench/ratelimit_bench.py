"""One rate for the cluster: N replica processes, one database, the local SMS/email servers.

Each replica is its own process with its own store engine, running the real
``Dispatcher.run``; all of them start together (a start instant handed to each) on one
outbox. Two figures per replica count:

- **not binding**: the rate limit out of the way, each replica latency-bound (its
  ``--concurrency`` sends in flight, ``--latency-ms`` at the provider): the aggregate
  send rate, and its multiple of one replica's (target: 3 replicas >= 2.5x one).
- **binding**: ``--rate`` per second for the channel, far below what the replicas could
  send: the worst sliding 1-second window of arrivals at the server (target: never above
  the rate plus one message) and the mean rate (target: within 2% of the rate); also
  the worst window of the departures (each request as it passes its fence: the bound
  ``domain/pacing.py`` proves) and the slots given up at the fence.

    .venv/bin/python -m bench.ratelimit_bench --db postgres --replicas 1,2,3

Appends its table to bench/RESULTS.md with ``--record``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

from bench.common import DATABASES, ROOT, Figure, Server, child_args, emit, record, table
from bench.dispatch_bench import SERVER_KIND, _Attached, _prepare, channel_settings
from notifier.channels.registry import build_channels
from notifier.clock import SystemClock
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.process import tune_gc
from notifier.store.store import Store
from notifier.templates import Company, Renderer

START_AFTER = 6.0  # seconds from spawning the replicas to their common start


async def _replica(a: dict[str, Any]) -> dict[str, Any]:
    """One replica: wait for the common start, dispatch until the server has all ``n``."""
    from bench.common import clock_offset

    server = _Attached(a["port"], a["control"])
    settings = channel_settings(a["channel"], server, **a["settings"])
    channels = build_channels(settings.providers, demo=False)
    composer = Composer(Renderer.from_settings(settings.render),
                        Company.from_settings(settings.messages), settings.messages,
                        settings.links)  # fmt: skip
    store = Store.open(a["url"])
    clock = SystemClock(clock_offset(datetime.fromisoformat(a["now"])))
    dispatcher = Dispatcher(store, channels, composer, clock, settings.dispatch, settings.scan)
    released, departed = _note_releases()
    await asyncio.sleep(max(0.0, a["start_at"] - time.time()))
    stopping = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stopping))
    deadline = time.monotonic() + a["timeout"]
    while time.monotonic() < deadline and await asyncio.to_thread(server.count) < a["n"]:  # noqa: ASYNC110  # another process counts
        await asyncio.sleep(0.2)
    stopping.set()
    await task
    stats = await store.queue_stats()
    await channels.aclose()
    await store.close()
    return {"counts": dict(stats.counts), "released": released, "departed": departed,
            "lost": dispatcher.sender.lost_slots}  # fmt: skip


def _note_releases() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Note each grant's slot and each departure (the instant a request passed its fence).

    Wall-clock instants, as the fake stamps arrivals; this process only.
    """
    from notifier.domain.models import ChannelName
    from notifier.domain.pacing import Departure
    from notifier.engine.delivery.ratelimit import ClusterLimiter
    from notifier.engine.delivery.sending import Sender

    released: list[tuple[float, float]] = []
    departed: list[tuple[float, float]] = []
    acquire, fence = ClusterLimiter.acquire, Sender._fence

    async def noted(
        limiter: ClusterLimiter, channel: ChannelName, sender: str, cost: float
    ) -> Departure | datetime:
        granted = await acquire(limiter, channel, sender, cost)
        if isinstance(granted, Departure):
            released.append((granted.earliest, cost))  # its slot, on this process's clock
        return granted

    async def gone(sender: Sender, departure: Departure, cost: float) -> bool:
        leaves = await fence(sender, departure, cost)
        if leaves:
            departed.append((time.time(), cost))
        return leaves

    ClusterLimiter.acquire = noted  # type: ignore[method-assign]  # this process only
    Sender._fence = gone  # type: ignore[method-assign]
    return released, departed


def _run_replicas(count: int, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Start ``count`` replica processes together; return what each printed last."""
    start_at = time.time() + START_AFTER
    with contextlib.ExitStack() as files:
        outs = [files.enter_context(tempfile.TemporaryFile("w+")) for _ in range(count)]
        child = json.dumps({**args, "mode": "replica", "start_at": start_at})
        procs = [subprocess.Popen([sys.executable, "-m", "bench.ratelimit_bench", child],
                                  stdout=out, cwd=ROOT) for out in outs]  # fmt: skip
        results = []
        for proc, out in zip(procs, outs, strict=True):
            if proc.wait(timeout=args["timeout"] + 120) != 0:
                raise SystemExit(f"a replica failed ({proc.returncode})")
            out.seek(0)
            lines = [line for line in out.read().splitlines() if line.startswith("{")]
            results.append({**json.loads(lines[-1]), "start_at": start_at})
    return results


def worst_window(times: list[float], costs: list[float] | None = None) -> float:
    """The most arrivals (or cost) in any 1-second window [t, t + 1)."""
    cost = costs or [1.0] * len(times)
    worst, j, held = 0.0, 0, 0.0
    for i, t in enumerate(times):  # a window starting at an arrival holds the most
        while j < len(times) and times[j] < t + 1.0:
            held += cost[j]
            j += 1
        worst = max(worst, held)
        held -= cost[i]
    return worst


def one_run(
    kind: str, channel: str, replicas: int, n: int, settings: dict[str, Any], latency: int
) -> tuple[list[float], float, list[dict[str, Any]]]:
    """Dispatch ``n`` due notifications with ``replicas`` processes; return the arrivals."""
    db, url, _, now = _prepare(kind, channel, n, f"r{channel}{replicas}{len(settings)}")
    try:
        with Server(SERVER_KIND[channel], latency) as server:
            args = {"url": url, "channel": channel, "n": n, "port": server.port,
                    "control": server.control, "settings": settings, "timeout": 600,
                    "now": now}  # fmt: skip
            results = _run_replicas(replicas, args)
            arrivals = server.arrivals()
            costs = server.costs()
    finally:
        db.__exit__(None, None, None)
    for result in results:
        result["arrivals"] = sorted((t, costs.get(to, 1.0)) for to, t in arrivals.items())
    return sorted(arrivals.values()), results[0]["start_at"], results


def _all(results: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    return sorted((t, c) for r in results for t, c in r[key])


def measure(
    kind: str, channel: str, counts: list[int], n: int, rate: float, seconds: float,
    concurrency: tuple[int, int], latency: int, only: str = "both",
) -> list[Figure]:  # fmt: skip
    """Return the not-binding and binding figures for each replica count."""
    figures: list[Figure] = []
    one: float | None = None
    free = {"dispatch_concurrency": concurrency[0]}
    for count in counts if only != "binding" else []:
        times, start, results = one_run(kind, channel, count, n, free, latency)
        lost = sum(r["lost"] for r in results)
        aggregate = len(times) / (times[-1] - start)
        one = aggregate if count == 1 else one
        multiple = aggregate / one if one else 0.0
        target = ">= 2.5x one replica" if count == 3 else ""
        met = (multiple >= 2.5) if count == 3 and one else None
        figures.append(Figure(
            "cluster rate, not binding", kind,
            f"{channel}, {count} replica(s), concurrency {concurrency[0]} each, {latency} ms",
            aggregate, "sends/s", target, met,
            f"{len(times):,} of {n:,} received; {multiple:.2f}x one replica; "
            f"{lost} slot(s) given up at the fence",
        ))  # fmt: skip
    limited = {"dispatch_concurrency": concurrency[1], f"rate_{channel}": rate}
    due = int(rate * seconds)
    for count in counts if only != "free" else []:
        times, _, results = one_run(kind, channel, count, due, limited, 0)
        released, departed = _all(results, "released"), _all(results, "departed")
        lost = sum(r["lost"] for r in results)
        arrived = results[0]["arrivals"]
        each = max(c for _, c in arrived)  # the allowance: one message, its segments for SMS
        unit = "segments" if channel == "sms" else "messages"
        worst = worst_window([t for t, _ in arrived], [c for _, c in arrived])
        granted = worst_window([t for t, _ in released], [c for _, c in released])
        left = worst_window([t for t, _ in departed], [c for _, c in departed])
        # The mean rate: what came after the first arrival, over the time it took.
        mean = sum(c for _, c in arrived[1:]) / (arrived[-1][0] - arrived[0][0])
        ok = worst <= rate + each and abs(mean - rate) <= 0.02 * rate
        figures.append(Figure(
            "cluster rate, binding", kind,
            f"{channel} limited to {rate:.0f}/s, {count} replica(s), concurrency {concurrency[1]}",
            worst, f"{unit} in the worst 1-s window",
            f"<= {rate + each:.0f} (rate + 1 message); mean within 2%", ok,
            f"{len(times):,} of {due:,} received (up to {each:.0f} {unit} each); "
            f"mean {mean:.2f} {unit}/s "
            f"({(mean - rate) / rate:+.2%}); worst 1-s window of the limiter's slots "
            f"{granted:.0f}, of the departures (at the fence) {left:.0f}; "
            f"{lost} slot(s) given up at the fence",
        ))  # fmt: skip
    return figures


def main() -> None:
    """Run the benchmark (or, with a JSON argument, one replica)."""
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        tune_gc()
        emit(asyncio.run(_replica(child_args())))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit_bench")
    parser.add_argument("--db", choices=DATABASES, default="postgres")
    parser.add_argument("--replicas", default="1,2,3", help="replica counts, e.g. 1,2,3")
    parser.add_argument("--channel", choices=[*SERVER_KIND, "both"], default="both")
    parser.add_argument("--n", type=int, default=1500, help="due rows, not-binding runs")
    parser.add_argument("--rate", type=float, default=100.0, help="the binding rate, per s")
    parser.add_argument("--seconds", type=float, default=10.0, help="binding runs' length")
    parser.add_argument("--concurrency", type=int, default=16, help="in flight, not binding")
    parser.add_argument("--binding-concurrency", type=int, default=64, help="in flight, binding")
    parser.add_argument("--only", choices=["free", "binding", "both"], default="both")
    parser.add_argument("--latency-ms", type=int, default=200, help="not-binding runs")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    a = parser.parse_args()
    counts = [int(c) for c in a.replicas.split(",")]
    if a.db == "sqlite" and counts != [1]:
        raise SystemExit("SQLite runs one daemon per file: --replicas 1")
    started = time.monotonic()
    figures: list[Figure] = []
    for channel in SERVER_KIND if a.channel == "both" else (a.channel,):
        in_flight = (a.concurrency, a.binding_concurrency)
        figures += measure(a.db, channel, counts, a.n, a.rate, a.seconds, in_flight,
                           a.latency_ms, a.only)  # fmt: skip
    print(table(figures))
    if a.record:
        command = "python -m bench.ratelimit_bench " + " ".join(sys.argv[1:])
        record(figures, command, [], time.monotonic() - started)


if __name__ == "__main__":
    main()

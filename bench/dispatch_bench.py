"""Dispatch throughput per channel, the rate limiter holding its rate, and the local
servers' own ceiling.

The parent writes the ledger, scans it into the outbox with the real scan, starts the
provider fake in its own process, then runs the measurement in a child process (so its
peak RSS is the dispatching process's alone): the real ``Dispatcher.run`` with the real
store and the channels ``build_channels`` makes, counting what the fake accepted.

    .venv/bin/python -m bench.dispatch_bench --n 5000 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from bench.common import (
    DATABASES,
    Figure,
    Server,
    bench_now,
    child_args,
    clock_offset,
    database,
    emit,
    run_child,
)  # fmt: skip
from bench.generate import Ledger, fill, phone
from bench.scan_bench import bench_settings, tick
from notifier.channels.base import OutboundMessage
from notifier.channels.registry import build_channels
from notifier.clock import SystemClock
from notifier.config import Settings
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.process import tune_gc
from notifier.store.store import Store
from notifier.templates import Company, Renderer
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN

TARGETS = {0: 1000.0, 50: 800.0}  # notifications/s per process, by added latency (ms)
# Sends in flight for the throughput runs: NOTIFIER_DISPATCH_CONCURRENCY defaults to a
# cautious 64 (providers cap concurrent requests per account); a deployment that may go
# higher sets it, and so does this benchmark, like the rate limits, and says so.
THROUGHPUT_CONCURRENCY = 200
OUT_OF_THE_WAY = 1e9
SERVER_KIND = {"sms": "twilio", "email": "smtp"}


def channel_settings(channel: str, server: Server, **values: Any) -> Settings:
    """Return settings aiming ``channel`` at ``server``, rate limits out of the way unless set."""
    values.setdefault("rate_sms", OUT_OF_THE_WAY)
    values.setdefault("rate_email", OUT_OF_THE_WAY)
    if channel == "sms":
        values.update(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=SecretStr(AUTH_TOKEN),
                      twilio_from="+15017122661", twilio_base_url=server.url)  # fmt: skip
    else:
        # As many relay connections as sends in flight: the pool is a relay's limit, set
        # out of the way here like the rate limits.
        values.setdefault("smtp_pool_size", values.get("dispatch_concurrency", 64))
        values.update(smtp_host="127.0.0.1", smtp_port=server.port, smtp_tls="none",
                      email_from="Acme <avisos@acme.example>")  # fmt: skip
    return bench_settings(**values)


class _Attached(Server):
    """A fake another process started: the child only asks it for counts."""

    def __init__(self, port: int, control: str) -> None:  # no process of its own
        self.port, self.control, self.kind = port, control, ""

    def stop(self) -> None:
        return None


async def _dispatch(a: dict[str, Any]) -> dict[str, Any]:
    server = _Attached(a["port"], a["control"])
    settings = channel_settings(a["channel"], server, **a["settings"])
    channels = build_channels(settings.providers, demo=False)
    composer = Composer(
        Renderer.from_settings(settings.render),
        Company.from_settings(settings.messages),
        settings.messages,
        settings.links,
    )
    store = Store.open(a["url"])
    clock = SystemClock(clock_offset(datetime.fromisoformat(a["now"])))
    dispatcher = Dispatcher(store, channels, composer, clock, settings.dispatch, settings.scan)
    stopping = asyncio.Event()
    started, cpu = time.time(), time.process_time()
    task = asyncio.create_task(dispatcher.run(stopping))
    deadline = time.monotonic() + a["timeout"]
    while time.monotonic() < deadline and await asyncio.to_thread(server.count) < a["n"]:  # noqa: ASYNC110  # another process counts
        await asyncio.sleep(0.2)  # arrival times come from the fake: polling adds nothing
    times = sorted((await asyncio.to_thread(server.arrivals)).values())
    cpu = time.process_time() - cpu  # every thread's: the loop, SQLite's, the renders'
    stopping.set()
    await task
    stats = await store.queue_stats()
    await channels.aclose()
    await store.close()
    return {"started": started, "times": times, "counts": dict(stats.counts), "cpu": cpu}


async def _alone(a: dict[str, Any]) -> dict[str, Any]:
    """Send ``n`` messages through the channel adapter alone (no store), ``concurrency`` at once."""
    server = _Attached(a["port"], a["control"])
    settings = channel_settings(a["channel"], server)
    channel = build_channels(settings.providers, demo=False).get(a["channel"])
    assert channel is not None
    queue = list(range(a["n"]))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            to = phone(i) if a["channel"] == "sms" else f"alone{i}@example.com"
            await channel.send(OutboundMessage(dedupe_key=f"alone:{i}", channel=a["channel"],
                                               to=to, text="Acme: perdón, tu pedido se demora.",
                                               message_name="delivery_late", locale="es",
                                               subject="Tu pedido"))  # fmt: skip

    started = time.time()
    await asyncio.gather(*(worker() for _ in range(a["concurrency"])))
    seconds = time.time() - started
    await channel.aclose()
    return {"seconds": seconds}


def measure_limiter(times: list[float], rate: float, origin: float) -> tuple[float, float]:
    """Return the sustained rate and the most the server received beyond the allowance
    (negative: the closest it came, below).

    The senders' buckets hold no burst (notifier.domain.pacing): by any instant t,
    at most 1 + rate * (t - origin) messages may have been let go, ``origin`` being when
    the bucket let the first one go; the server cannot have received more. The origin is
    not the first arrival: that send opens the first SMTP connection while the other
    sends start, and arrives 5-30 ms after its release, which made the sends after it
    look early by as much (an 'overrun' of up to 3 at concurrency 256).
    """
    burst = 1.0
    if len(times) <= burst + 1:
        return 0.0, 0.0
    sustained = (len(times) - burst) / (times[-1] - origin)
    overrun = max(i + 1 - burst - rate * (t - origin) for i, t in enumerate(times))
    return sustained, overrun


async def _limited(a: dict[str, Any]) -> dict[str, Any]:
    """Run the dispatch child, noting when the sender's bucket let the first send go."""
    from unittest.mock import patch

    from notifier.domain.models import ChannelName
    from notifier.domain.pacing import Departure
    from notifier.engine.delivery.ratelimit import ClusterLimiter

    released: list[float] = []
    acquire = ClusterLimiter.acquire

    async def noted(
        limiter: ClusterLimiter, channel: ChannelName, sender: str, cost: float
    ) -> Departure | datetime:
        granted = await acquire(limiter, channel, sender, cost)
        if isinstance(granted, Departure):  # its slot: the fake stamps with time.time() too
            released.append(granted.earliest)
        return granted

    with patch.object(ClusterLimiter, "acquire", noted):
        result = await _dispatch(a)
    return {**result, "first_release": min(released, default=0.0)}


def _prepare(kind: str, channel: str, n: int, tag: str) -> Any:
    """Yield a database whose outbox holds ``n`` due notifications on ``channel``."""
    now = bench_now()
    db = database(kind, tag)
    url = db.__enter__()
    fill(url, Ledger(open_promises=n, due=n, now=now, channel=channel))
    seconds, _ = asyncio.run(tick(url, now))
    return db, url, seconds, now.isoformat()


def throughput(kind: str, channel: str, latency: int, n: int) -> list[Figure]:
    """Measure the dispatcher sending ``n`` due notifications on ``channel``."""
    db, url, scan_s, now = _prepare(kind, channel, n, f"d{channel}{latency}")
    try:
        with Server(SERVER_KIND[channel], latency) as server:
            settings = {"dispatch_concurrency": THROUGHPUT_CONCURRENCY}
            args = {"mode": "dispatch", "url": url, "channel": channel, "n": n, "port": server.port,
                    "control": server.control, "settings": settings, "timeout": 600,
                    "now": now}  # fmt: skip
            result, peak = run_child("bench.dispatch_bench", args)
    finally:
        db.__exit__(None, None, None)
    times = result["times"]
    seconds = (max(times) - result["started"]) if times else float("inf")
    rate = len(times) / seconds
    cpu_us = result["cpu"] / max(len(times), 1) * 1e6
    target = TARGETS[latency]
    case = (f"{channel}, {latency} ms provider latency, {n:,} due, "
            f"concurrency {THROUGHPUT_CONCURRENCY}")  # fmt: skip
    note = (f"{len(times):,} accepted in {seconds:.1f} s; peak RSS {peak:.0f} MB; "
            f"outbox {result['counts']}; scan before it {scan_s:.1f} s; "
            f"{cpu_us:.0f} µs CPU per send, every thread")  # fmt: skip
    return [Figure("dispatch", kind, case, rate, "sends/s", f">= {target:,.0f}/s",
                   rate >= target, note),
            Figure("dispatch memory", kind, case, peak, "MB peak RSS"),
            Figure("end to end", kind, case, scan_s + seconds, "s", "", None,
                   "the scan tick, then the dispatch to the last arrival")]  # fmt: skip


def limiter(kind: str, channel: str, rate: float, concurrency: int, seconds: float) -> Figure:
    """Measure the limiter holding ``rate`` with ``concurrency`` sends allowed in flight."""
    n = int(rate * seconds)
    db, url, _, now = _prepare(kind, channel, n, f"l{channel}{concurrency}")
    try:
        with Server(SERVER_KIND[channel]) as server:
            settings = {f"rate_{channel}": rate, "dispatch_concurrency": concurrency}
            args = {"mode": "limiter", "url": url, "channel": channel, "n": n, "port": server.port,
                    "control": server.control, "settings": settings, "timeout": seconds * 3 + 60,
                    "now": now}  # fmt: skip
            result, _ = run_child("bench.dispatch_bench", args)
    finally:
        db.__exit__(None, None, None)
    sustained, overrun = measure_limiter(sorted(result["times"]), rate, result["first_release"])
    ok = abs(sustained - rate) <= 0.05 * rate and overrun <= 0.0
    case = f"{channel} limited to {rate:.0f}/s, concurrency {concurrency}"
    note = (f"{len(result['times']):,} sent; most received beyond the allowance since the "
            f"first release: {overrun:+.2f} (never above when <= 0)")  # fmt: skip
    return Figure("rate limiter", kind, case, sustained, "sends/s",
                  f"{rate:.0f}/s within 5%, never above", ok, note)  # fmt: skip


def alone(channel: str, latency: int, n: int, concurrency: int = 64) -> Figure:
    """Measure our channel adapter alone against the fake: the ceiling without the store."""
    with Server(SERVER_KIND[channel], latency) as server:
        args = {"mode": "alone", "channel": channel, "n": n, "port": server.port,
                "control": server.control, "concurrency": concurrency}  # fmt: skip
        result, _ = run_child("bench.dispatch_bench", args)
        got = server.count()
    rate = got / result["seconds"]
    case = f"{channel} adapter + fake only, {latency} ms, concurrency {concurrency}"
    return Figure(
        "servers alone",
        "-",
        case,
        rate,
        "sends/s",
        "",
        None,
        "no store, no dispatcher: the SDK and the local server's own ceiling",
    )


def main() -> None:
    """Run the dispatch benchmarks alone (or, with a JSON argument, one measuring child)."""
    import sys

    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        a = child_args()
        child = {"dispatch": _dispatch, "limiter": _limited, "alone": _alone}[a["mode"]]
        tune_gc()  # the dispatching process is set up as `notifier run` sets itself up
        emit(asyncio.run(child(a)))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch_bench")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--channel", choices=[*SERVER_KIND, "both"], default="both")
    parser.add_argument("--latency", type=int, choices=sorted(TARGETS), help="default: each")
    args = parser.parse_args()
    for kind in DATABASES if args.db == "both" else (args.db,):
        for channel in SERVER_KIND if args.channel == "both" else (args.channel,):
            for latency in TARGETS if args.latency is None else (args.latency,):
                for f in throughput(kind, channel, latency, args.n):
                    print(" | ".join(f.cells()), flush=True)


if __name__ == "__main__":
    main()

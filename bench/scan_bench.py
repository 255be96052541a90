"""Scan cost against ledger size: one tick with 10,000 promises due among N open ones.

The real ``notifier.engine.planning.scanner.scan`` on the real store, with the shipped rules, on a
ledger written by ``bench.generate``. The pool is warmed first (a daemon's tick finds
its connections open); the tick itself is timed from the first query to the commit.

    .venv/bin/python -m bench.scan_bench --sizes 10000 100000 --db sqlite [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from bench.common import DATABASES, ROOT, Figure, bench_now, database
from bench.generate import Ledger, fill
from notifier.config import Settings
from notifier.domain.rules.model import RuleSet
from notifier.engine.planning.scanner import ScanReport, scan
from notifier.engine.rulefiles.check import defaults_from_settings, load_rules
from notifier.process import tune_gc
from notifier.store.store import Store
from notifier.templates import Renderer

TARGET_SECONDS = 1.0  # a 10,000-due tick on PostgreSQL
TARGET_GROWTH = 1.5  # the 1,000,000-open tick against the 10,000-open one


def shipped_rules(settings: Settings) -> RuleSet:
    """Return the rules shipped in ``rules/``, checked like ``notifier run`` checks them."""
    load = load_rules(
        Path(settings.rules_dir),
        Renderer.from_settings(settings.render),
        defaults_from_settings(settings.rules),
    )
    assert load.rules is not None, [str(p) for p in load.problems]
    return load.rules


def bench_settings(**values: object) -> Settings:
    """Return settings with the shipped rules and templates."""
    return Settings(rules_dir=str(ROOT / "rules"), templates_dir=str(ROOT / "templates"), **values)  # type: ignore[arg-type]  # keyword settings, checked by pydantic


async def tick(url: str, now: datetime, profile: Path | None = None) -> tuple[float, ScanReport]:
    """Run one scan at ``now`` on a warm store; return its seconds and report."""
    settings = bench_settings()
    rules = shipped_rules(settings)
    gc.collect()  # what writing the ledger left behind is not the tick's to clear
    tune_gc()  # as `notifier run` does at start
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            await conn.execute(text("SELECT 1"))
        profiler = None
        if profile is not None:
            from pyinstrument import Profiler  # only when asked: a dev tool

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        started = time.perf_counter()
        report = await scan(store, rules, now, batch_size=settings.scan_batch_size,
                            consolidation_window=settings.consolidation_window)  # fmt: skip
        seconds = time.perf_counter() - started
        if profiler is not None and profile is not None:
            profiler.stop()
            report_text = profiler.output_text(unicode=True, show_all=False)
            await asyncio.to_thread(profile.write_text, report_text)
        return seconds, report
    finally:
        await store.close()


def run(sizes: list[int], due: int, databases: tuple[str, ...] = DATABASES,
        profile: Path | None = None) -> list[Figure]:  # fmt: skip
    """Measure a tick at each ledger size on each database; return the figures."""
    figures: list[Figure] = []
    for kind in databases:
        base: float | None = None
        for size in sizes:
            now = bench_now()
            with database(kind, f"scan{size}") as url:
                started = time.perf_counter()
                fill(url, Ledger(open_promises=size, due=min(due, size), now=now))
                filled = time.perf_counter() - started
                where = profile.with_name(f"{profile.stem}-{kind}-{size}.txt") if profile else None
                seconds, report = asyncio.run(tick(url, now, where))
            ok = report.promises == min(due, size) and report.scheduled >= report.promises
            note = (f"{report.promises:,} due, {report.scheduled:,} scheduled, "
                    f"{report.batches} batches (callbacks escalate to ops too); "
                    f"ledger written in {filled:.1f} s")  # fmt: skip
            if not ok:
                note += " (UNEXPECTED COUNTS)"
            target, met = "", None
            if kind == "postgres" and size == sizes[0]:
                target, met = f"< {TARGET_SECONDS:.0f} s", seconds < TARGET_SECONDS
            base = seconds if size == sizes[0] else base
            if size != sizes[0] and base:
                growth = seconds / base
                note += f"; {growth:.2f}x the {sizes[0]:,}-open tick"
                if size == sizes[-1]:
                    target, met = f"<= {TARGET_GROWTH}x of {sizes[0]:,}", growth <= TARGET_GROWTH
            figures.append(Figure("scan", kind, f"{min(due, size):,} due among {size:,} open",
                                  seconds, "s", target, met, note))  # fmt: skip
            print(figures[-1].cells(), flush=True)
    return figures


def main() -> None:
    """Run the scan benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.scan_bench")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--profile", type=Path, help="write pyinstrument reports beside this")
    args = parser.parse_args()
    databases = DATABASES if args.db == "both" else (args.db,)
    for f in run(args.sizes, args.due, databases, args.profile):
        print(" | ".join(f.cells()))


if __name__ == "__main__":
    main()

"""``python -m bench`` runs every benchmark; ``--quick`` a smaller version in under 2 min.

Prints the table and appends it, with the machine and the command, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from bench import baseline, dispatch_bench, latency_bench, scan_bench, startup_bench, wake_bench
from bench.common import DATABASES, Figure, record, table


@dataclass(frozen=True)
class Plan:
    scan_sizes: tuple[int, ...]
    scan_due: int
    dispatch: tuple[tuple[str, str, int, int], ...]  # database, channel, latency ms, due
    limiter: tuple[tuple[str, str, float, int, float], ...]  # db, channel, rate, conc., s
    latency: tuple[tuple[str, int, int, int], ...]  # database, seconds, rate, idle open
    wake: tuple[tuple[str, int, float, int], ...]  # database, due, seconds apart, idle open
    startup: int
    naive_total: int  # jobs in the naive design's store (capped: see the notes)
    naive_due: int
    naive_slow_due: int  # due jobs for the 50 ms run (its rate is what counts)
    databases: tuple[str, ...] = DATABASES


FULL = Plan(
    scan_sizes=(10_000, 100_000, 1_000_000), scan_due=10_000,
    dispatch=tuple((db, ch, lat, 10_000 if (ch, lat) == ("sms", 0) else 5_000)
                   for db in DATABASES for ch in ("sms", "email") for lat in (0, 50)),
    limiter=(("sqlite", "email", 100.0, 8, 10.0), ("sqlite", "email", 100.0, 256, 10.0),
             ("postgres", "email", 100.0, 64, 10.0)),
    latency=tuple((db, 60, 50, 100_000) for db in DATABASES),
    wake=tuple((db, 120, 0.5, 10_000) for db in DATABASES),
    startup=1_000_000, naive_total=100_000, naive_due=10_000, naive_slow_due=2_000,
)  # fmt: skip
QUICK = Plan(
    scan_sizes=(1_000, 10_000), scan_due=1_000,
    dispatch=(("sqlite", "sms", 0, 1_000), ("sqlite", "sms", 50, 1_000),
              ("sqlite", "email", 0, 500), ("postgres", "sms", 0, 1_000)),
    limiter=(("sqlite", "email", 100.0, 64, 3.0),),
    latency=(("sqlite", 6, 50, 2_000),),
    wake=(("sqlite", 40, 0.5, 1_000),),
    startup=20_000, naive_total=3_000, naive_due=1_000, naive_slow_due=300,
    databases=("sqlite",),
)  # fmt: skip


def _mine(ours: list[Figure], kind: str, bench: str, case_start: str) -> Figure | None:
    return next((f for f in ours if f.bench == bench and f.database == kind
                 and f.case.startswith(case_start)), None)  # fmt: skip


# The naive design's executors: the sequential sender, and APScheduler's default.
NAIVE = (("sequential", 1), ("default 10-thread pool", baseline.DEFAULT_WORKERS))


def compare(plan: Plan, ours: list[Figure]) -> tuple[list[Figure], list[str]]:
    """Run the naive design on the same data and return our figures as ratios against it."""
    figures: list[Figure] = []
    notes: list[str] = []
    for kind in plan.databases:
        for label, workers in NAIVE:
            figures.extend(_against(plan, ours, kind, label, workers))
        burst = baseline.measure(kind, plan.naive_total, plan.naive_due, 0,
                                 baseline.DEFAULT_GRACE, lead=20.0)  # fmt: skip
        figures.append(Figure("naive design", kind,
                              f"burst of {plan.naive_due:,}, default misfire_grace_time",
                              plan.naive_due - burst["received"], "dropped", "ours: 0", None,
                              f"{burst['missed']:,.0f} EVENT_JOB_MISSED, logged as a warning "
                              "and gone; default 10-thread pool"))  # fmt: skip
        notes.append(
            f"{kind}: the naive store holds {plan.naive_total:,} jobs (capped: our ledger runs "
            f"go to {max(plan.scan_sizes):,}); a BackgroundScheduler, each job one blocking "
            "Twilio SDK send. 'sequential' is the issue's naive design (an executor of one "
            "thread); 'default 10-thread pool' is APScheduler's default executor."
        )
    notes.append(
        "The rate limiter is measured on email: SMS is limited in segments, as "
        "carriers count them, and these Spanish messages take three UCS-2 segments."
    )
    return figures, notes


def _against(plan: Plan, ours: list[Figure], kind: str, label: str, workers: int) -> list[Figure]:
    """Measure one naive executor; return its figures and ours as ratios against them."""
    # One at a time at 50 ms is about 18/s: fewer messages give the same rate sooner.
    slow_due = plan.naive_slow_due if workers > 1 else max(plan.naive_slow_due // 4, 100)
    fast = baseline.measure(kind, plan.naive_total, plan.naive_due, 0, workers=workers)
    slow = baseline.measure(kind, plan.naive_total, slow_due, 50, workers=workers)
    rows = [
        ("sends/s, sms, 0 ms", fast["rate"], "sends/s",
         _mine(ours, kind, "dispatch", "sms, 0 ms"), 5.0),
        ("sends/s, sms, 50 ms", slow["rate"], "sends/s",
         _mine(ours, kind, "dispatch", "sms, 50 ms"), 8.0),
        ("peak RSS", fast["peak_mb"], "MB",
         _mine(ours, kind, "dispatch memory", "sms, 0 ms"), None),
    ]  # fmt: skip
    figures = []
    for case, theirs, unit, us, want in rows:
        ratio = (us.value / theirs) if us and theirs else float("nan")
        figures.append(Figure("naive design", kind, f"{label}: {case}", theirs, unit))
        if us is not None:
            figures.append(Figure("ours / naive", kind, f"{label}: {case}", ratio, "x",
                                  f">= {want:.0f}x" if want else "",
                                  (ratio >= want) if want else None))  # fmt: skip
    end_to_end = f"{label}: {plan.naive_due:,} due end to end"
    figures.append(Figure("naive design", kind, end_to_end, fast["seconds"], "s", "", None,
                          f"{fast['received']:,} sent; start to last arrival"))  # fmt: skip
    ours_e2e = _mine(ours, kind, "end to end", "sms, 0 ms")
    if ours_e2e is not None:
        note = f"ours {ours_e2e.value:.1f} s: scan tick, then dispatch"
        figures.append(Figure("naive / ours", kind, f"{end_to_end}, time",
                              fast["seconds"] / ours_e2e.value, "x", "", None, note))  # fmt: skip
    startup = f"{label}: start-up, {plan.naive_total:,} jobs"
    figures.append(Figure("naive design", kind, startup, fast["startup"], "s", "", None,
                          "spawn to scheduler started"))  # fmt: skip
    ours_up = _mine(ours, kind, "start-up", "")
    if ours_up is not None:
        note = f"ours {ours_up.value:.2f} s to ready with {ours_up.case}"
        figures.append(Figure("naive / ours", kind, f"{startup}, time",
                              fast["startup"] / ours_up.value, "x", "", None, note))  # fmt: skip
    return figures


def main() -> None:
    """Run the plan, print the table, append it to RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 2 minutes")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    figures: list[Figure] = []

    def add(found: list[Figure]) -> None:
        figures.extend(found)
        for f in found:
            print(" | ".join(f.cells()), file=sys.stderr, flush=True)

    add(scan_bench.run(list(plan.scan_sizes), plan.scan_due, plan.databases))
    for kind, channel, latency, n in plan.dispatch:
        add(dispatch_bench.throughput(kind, channel, latency, n))
    for kind, channel, rate, concurrency, seconds in plan.limiter:
        add([dispatch_bench.limiter(kind, channel, rate, concurrency, seconds)])
    for channel, latency in (("sms", 0), ("sms", 50), ("email", 0), ("email", 50)):
        n = 600 if args.quick else 3_000
        if not args.quick or (channel, latency) == ("sms", 0):
            add([dispatch_bench.alone(channel, latency, n)])
    for kind, seconds, rate, idle in plan.latency:
        add(latency_bench.run(kind, seconds, rate, idle))
    for kind, due, every, idle in plan.wake:
        add(wake_bench.run(kind, due, every, idle))
    for kind in plan.databases:
        add([startup_bench.run(kind, plan.startup)])
    compared, notes = compare(plan, figures)
    add(compared)
    if args.quick:
        notes.append(
            "Quick run: 500 to 1,000 messages a case, so start-up (connections, the SDK's "
            "first imports) weighs on the rates; the throughput targets are judged on "
            "`make bench`, which sends 5,000 to 10,000."
        )
    command = "make bench-quick" if args.quick else "make bench"
    print(table(figures))
    record(figures, command, notes, time.perf_counter() - started)


if __name__ == "__main__":
    main()

"""Benchmark ``notifier import``: a generated promises CSV (and its customers) into a fresh
database, timed, with the importing process's peak memory.

    .venv/bin/python -m bench.import_bench                 # 100,000 and 1,000,000 rows
    .venv/bin/python -m bench.import_bench --rows 200000 --db sqlite

Each import runs ``python -m notifier import`` as a subprocess; its peak RSS comes from
``wait4``'s rusage for that one child. PostgreSQL runs on a database created for the run
(``NOTIFIER_BENCH_PG_URL``, default postgres@127.0.0.1:5432) and dropped afterwards. The
figures print as a Markdown section for ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import machine

PG_URL = os.environ.get(
    "NOTIFIER_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
KINDS = ("delivery", "delivery", "delivery", "refund", "callback", "repair")
CARRIERS = ("andreani", "oca", "correo-argentino", "dhl", "fedex")
REGIONS = ("AMBA", "Córdoba", "Rosario", "Mendoza", "São Paulo", "Bogotá")
ZONES = ("America/Argentina/Buenos_Aires", "America/Sao_Paulo", "America/Bogota")
LOCALES = ("es-AR", "pt-BR", "es")


@dataclass(frozen=True)
class Run:
    database: str
    step: str
    rows: int
    seconds: float
    peak_mb: float
    summary: str


def write_customers(path: Path, count: int) -> None:
    """Write ``count`` customers with valid addresses, as the CRM would export them."""
    rnd = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("id,name,phone,email,locale,timezone,consent.sms\n")
        for i in range(count):
            zone = rnd.randrange(len(ZONES))
            f.write(
                f"cust-{i:07d},Cliente {i},+54911{40000000 + i:08d},cliente{i}@example.com,"
                f"{LOCALES[zone]},{ZONES[zone]},{'no' if i % 50 == 0 else 'yes'}\n"
            )


def write_promises(path: Path, count: int, customers: int) -> None:
    """Write ``count`` promises spread over the customers, with windows and attributes."""
    rnd = random.Random(2)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    header = (
        "customer_id,kind,due_at,window_start,external_ref,"
        "attributes.order_id,attributes.carrier,attributes.region\n"
    )
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header)
        for i in range(count):
            kind = KINDS[rnd.randrange(len(KINDS))]
            due = start + timedelta(minutes=rnd.randrange(60 * 24 * 30))
            window = (due - timedelta(hours=3)).isoformat() if kind == "delivery" else ""
            f.write(
                f"cust-{rnd.randrange(customers):07d},{kind},{due.isoformat()},{window},"
                f"ord-{i:08d},{1_000_000 + i},{CARRIERS[i % len(CARRIERS)]},"
                f"{REGIONS[i % len(REGIONS)]}\n"
            )


def notifier(url: str, *args: str) -> Run | None:
    """Run ``python -m notifier ARGS``; return its time and peak RSS (None for setup steps)."""
    env = {**os.environ, "NOTIFIER_DATABASE_URL": url}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "notifier", *args], env=env,
                                 stdout=out, stderr=err)  # fmt: skip
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(
                f"notifier {' '.join(args)} failed ({child.returncode}):\n{err.read()[-2000:]}"
            )
        summary = out.read().strip()
    if args[0] != "import":
        return None
    # ru_maxrss is in kilobytes on Linux.
    return Run("", args[1], 0, seconds, usage.ru_maxrss / 1024, summary)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def bench(database: str, rows: int, workdir: Path) -> list[Run]:
    """Import customers, then promises, then the promises again, into a fresh database."""
    customers = max(rows // 10, 1)
    c_path, p_path = workdir / f"customers-{customers}.csv", workdir / f"promises-{rows}.csv"
    if not p_path.exists():
        write_customers(c_path, customers)
        write_promises(p_path, rows, customers)
    name = f"notifier_bench_{os.getpid()}_{rows}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    else:
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        notifier(url, "db", "upgrade")
        runs = []
        for label, path, count in [
            ("customers", c_path, customers),
            ("promises", p_path, rows),
            ("promises again", p_path, rows),
        ]:
            run = notifier(url, "import", str(path))
            assert run is not None
            runs.append(Run(database, label, count, run.seconds, run.peak_mb, run.summary))
            print(f"{database:<10} {label:<15} {count:>9,} rows {run.seconds:8.1f} s "
                  f"{run.peak_mb:7.1f} MB  {run.summary}", file=sys.stderr)  # fmt: skip
        return runs
    finally:
        if database == "postgres":
            asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def report(runs: list[Run], argv: list[str]) -> str:
    """Return the Markdown section for bench/RESULTS.md."""
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d}: `python -m bench.import_bench {' '.join(argv)}`",
        "",
        f"Machine: {machine()}.",
        "",
        "| database | file | rows | wall time | rows/s | peak RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r.database} | {r.step} | {r.rows:,} | {r.seconds:.1f} s | "
            f"{r.rows / r.seconds:,.0f} | {r.peak_mb:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_bench")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="notifier-import-bench-") as tmp:
        for rows in args.rows:
            for database in databases:
                runs.extend(bench(database, rows, Path(tmp)))
    print(report(runs, sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()

"""What every benchmark shares: the machine, fresh databases, provider fakes in their own
processes, measuring child processes, and the RESULTS.md record.

The name is the one the benchmark brief gives this module; it holds the benchmark rig,
nothing of the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs

from notifier.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
PG_URL = os.environ.get(
    "NOTIFIER_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DATABASES = ("sqlite", "postgres")


@dataclass(frozen=True)
class Figure:
    """One measured figure, as it goes in the table."""

    bench: str
    database: str
    case: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None  # None: no target for this figure
    note: str = ""

    def cells(self) -> list[str]:
        """Return the table cells for this figure."""
        met = "" if self.met is None else ("yes" if self.met else "**NO**")
        shown = f"{self.value:,.3f}" if abs(self.value) < 10 else f"{self.value:,.0f}"
        return [self.bench, self.database, self.case, f"{shown} {self.unit}", self.target, met,
                self.note]  # fmt: skip


def bench_now() -> datetime:
    """Return an instant for generated data: the next 16:00 UTC, daytime for every customer.

    The daemon's clock is moved forward to it (NOTIFIER_TIME_OFFSET only moves forward), so
    quiet hours never decide a figure, whatever the hour the benchmark runs at.
    """
    now = datetime.now(UTC)
    at = now.replace(hour=16, minute=0, second=0, microsecond=0)
    return at if at >= now else at + timedelta(days=1)


def clock_offset(at: datetime) -> timedelta:
    """Return the offset that makes the system clock read ``at`` now (whole seconds, >= 0)."""
    return timedelta(seconds=max(0, round((at - datetime.now(UTC)).total_seconds())))


# -- the machine ---------------------------------------------------------------------------


def machine() -> str:
    """Return cores, memory, OS and the versions that matter, for the record."""
    meminfo = Path("/proc/meminfo").read_text().split()
    mem_gb = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    names = ("SQLAlchemy", "asyncpg", "aiosqlite", "twilio", "aiosmtplib", "tweepy",
             "APScheduler", "aiohttp", "psycopg")  # fmt: skip
    libs = ", ".join(f"{name} {metadata.version(name)}" for name in names)
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, PostgreSQL {pg_version()}; {libs}"
    )


def pg_version() -> str:
    """Return the PostgreSQL server version (or why it is unknown)."""

    async def ask() -> str:
        conn = await asyncpg.connect(_dsn(PG_URL))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(ask())
    except OSError as exc:
        return f"unreachable ({exc})"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


# -- databases -----------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def database(kind: str, tag: str) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database (a temp file, or a PG database dropped after)."""
    name = f"notifier_bench_{os.getpid()}_{tag}"
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / (name + '.db')}"
            upgrade(url)
            yield url
        return
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def sync_url(url: str) -> str:
    """Return ``url`` for a synchronous driver (APScheduler's job store is synchronous)."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


# -- provider fakes in their own processes -------------------------------------------------


class Server:
    """A provider fake as a child process; ``count()`` asks it how much it accepted."""

    def __init__(self, kind: str, latency_ms: int = 0) -> None:
        args = [sys.executable, "-m", "bench.servers", kind, "--latency-ms", str(latency_ms)]
        self.kind = kind
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "listening on 127.0.0.1:PORT control PORT"
        if not line.startswith("listening on"):
            self.stop()
            raise SystemExit(f"the {kind} fake did not start: {line!r}")
        words = line.split()
        self.port = int(words[2].rsplit(":", 1)[1])
        self.control = f"http://127.0.0.1:{words[4]}"

    @property
    def url(self) -> str:
        """The base URL (HTTP fakes) the SDK is pointed at."""
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        """Return how many messages the fake accepted."""
        return int(self._get("/__count")["count"])

    def arrivals(self) -> dict[str, float]:
        """Return each recipient's first arrival time (epoch seconds)."""
        found: dict[str, float] = self._get("/__arrivals")["arrivals"]
        return found

    def costs(self) -> dict[str, float]:
        """Return each recipient's first message's cost (SMS: its segments)."""
        found: dict[str, float] = self._get("/__costs")["costs"]
        return found

    def reset(self) -> None:
        """Forget what was accepted."""
        req = urllib.request.Request(self.control + "/__bench_reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=30).read()

    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.control + path, timeout=60) as answer:
            data: dict[str, Any] = json.loads(answer.read())
            return data

    def stop(self) -> None:
        """Stop the fake."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(condition: Callable[[], object], timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


# -- measuring children --------------------------------------------------------------------


def run_child(
    module: str, args: dict[str, object], timeout: float = 1800
) -> tuple[dict[str, Any], float]:
    """Run ``python -m MODULE JSON``; return the JSON it prints last and its peak RSS in MB."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-m", module, json.dumps(args)],
                                 stdout=out, stderr=err, cwd=ROOT)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                raise SystemExit(f"{module} took longer than {timeout:.0f} s")
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{module} {args} failed:\n{err.read()[-3000:]}")
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
    # ru_maxrss survives exec (it would show this parent's size at the fork): the child
    # reports its own high-water mark, VmHWM, which starts afresh with the new program.
    del usage
    result = json.loads(lines[-1])
    return result, float(result.get("vm_hwm_mb", 0.0))


def child_args() -> dict[str, Any]:
    """Return the JSON argument a measuring child was started with."""
    parsed: dict[str, Any] = json.loads(sys.argv[1])
    return parsed


def emit(result: dict[str, object]) -> None:
    """Print a child's result, with its peak RSS, as one JSON line for the parent."""
    status = Path("/proc/self/status").read_text().split()
    peak = int(status[status.index("VmHWM:") + 1]) / 1024  # kB
    print(json.dumps({**result, "vm_hwm_mb": peak}), flush=True)


# -- the record ----------------------------------------------------------------------------

HEADER = ["benchmark", "database", "case", "figure", "target", "met", "note"]


def table(figures: list[Figure]) -> str:
    """Return the figures as a Markdown table."""
    rows = [HEADER, ["---"] * len(HEADER)] + [f.cells() for f in figures]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"


def record(figures: list[Figure], command: str, notes: list[str], seconds: float) -> str:
    """Append a dated section to RESULTS.md and return it."""
    section = "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{command}` ({seconds / 60:.1f} min)",
            "",
            f"Machine: {machine()}.",
            "",
            table(figures),
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach run appends its section below.\n\n")
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(section + "\n")
    return section


def as_json(figures: list[Figure]) -> str:
    """Return the figures as JSON (for a later look)."""
    return json.dumps([asdict(f) for f in figures], indent=1)

"""Drive ``notifier run`` as a subprocess: start, stop, signal, kill, and talk to its API.

Waiting is always a poll of a condition up to a deadline (``wait_for``); nothing here
sleeps for a schedule. Deadlines are generous (``PATIENCE``): they only matter when a test
fails, and CI runs on shared 2-core machines whose load varies.
The daemon's clock moves only through ``POST /v1/test/clock``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-token"
Condition = Callable[[], Any]
PATIENCE = 90.0  # seconds a condition may take on a loaded machine before the test fails


async def wait_for(
    condition: Condition, what: str, within: float = PATIENCE, interval: float = 0.1
) -> Any:
    """Poll ``condition`` (sync or async) until it returns something truthy; return that.

    Fails with ``what`` once ``within`` seconds pass without success.
    """
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` as JSON Lines (what ``notifier import`` reads) and return the path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def daytime_zone(now: datetime, hour: int = 12) -> str:
    """Return an ``Etc/GMT`` zone whose local time at ``now`` is about ``hour`` o'clock."""
    offset = (hour - now.astimezone(UTC).hour + 12) % 24 - 12  # in -12 .. +11
    # Etc/GMT names carry the inverted sign (Etc/GMT-3 is UTC+3).
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def base_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """Return the environment for a daemon on ``database_url``: test mode, fast scans."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFIER_", "TWILIO_"))}
    env.update(
        NOTIFIER_DATABASE_URL=database_url,
        NOTIFIER_HTTP_PORT=str(port),
        NOTIFIER_API_TOKEN=TOKEN,
        NOTIFIER_TEST_MODE="1",
        NOTIFIER_SCAN_INTERVAL="1s",
        NOTIFIER_RULES_DIR=str(ROOT / "rules"),
        NOTIFIER_TEMPLATES_DIR=str(ROOT / "templates"),
        NOTIFIER_LOG_FORMAT="json",
        NOTIFIER_SHUTDOWN_GRACE="10s",
        # A render gets 1 s by default: a loaded CI box must not fail one on time alone.
        NOTIFIER_RENDER_TIMEOUT="30s",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def notifier(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one ``notifier`` command to completion and return what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@dataclass
class Daemon:
    """One ``notifier run`` (or ``demo``) subprocess; its output goes to files in ``home``."""

    env: dict[str, str]
    home: Path
    command: tuple[str, ...] = ("run",)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        port = self.env["NOTIFIER_HTTP_PORT"]
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30.0,
            headers={"Authorization": f"Bearer {self.env.get('NOTIFIER_API_TOKEN', TOKEN)}"},
        )  # fmt: skip

    @property
    def stdout_path(self) -> Path:
        return self.home / f"daemon-{self.starts}.out"

    @property
    def stderr_path(self) -> Path:
        return self.home / f"daemon-{self.starts}.err"

    def start(self) -> None:
        """Start the process (again, after a stop or a kill)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", *self.command],
                env=self.env, cwd=self.home, stdout=out, stderr=err,
            )  # fmt: skip

    async def ready(self, within: float = PATIENCE) -> None:
        """Wait until /readyz answers 200; fail early, with its stderr, if the process died."""

        async def answered() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited {self.proc.returncode}:\n{self.stderr()}")
            try:
                return (await self.client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(answered, "the daemon's /readyz", within)

    async def started(self) -> Daemon:
        """Start and wait until ready."""
        self.start()
        await self.ready()
        return self

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exited(self, within: float = PATIENCE) -> int:
        """Wait for the process to end; return its exit code."""
        proc = self.proc
        assert proc is not None
        await wait_for(lambda: proc.poll() is not None, "the daemon to exit", within, 0.05)
        return int(proc.returncode)

    async def stop(self, within: float = PATIENCE) -> int:
        """SIGTERM and wait; return the exit code."""
        self.send_signal(signal.SIGTERM)
        return await self.exited(within)

    def kill(self) -> None:
        """kill -9: no handler runs, leases stay behind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stderr(self) -> str:
        """What the current run wrote to stderr."""
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        """What the current run wrote to stdout."""
        return self.stdout_path.read_text(errors="replace")

    async def close(self) -> None:
        """Kill the process if it still runs and close the API client."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        await self.client.aclose()

    # -- the API
    async def call(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        """Call the API and return its JSON; fail unless it answers ``ok`` (or 201)."""
        answer = await self.client.request(method, path, json=body)
        assert answer.status_code in (ok, 201), (
            f"{method} {path}: {answer.status_code} {answer.text}"
        )
        return answer.json()

    async def customer(
        self, cid: str, *, last_used: str | None = "sms", at: datetime | None = None, **values: Any
    ) -> None:
        """Create a customer; with ``last_used``, an inbound touchpoint on that channel."""
        await self.call("PUT", f"/v1/customers/{cid}", values)
        if last_used is not None:
            when = at or datetime.now(UTC) - timedelta(days=2)
            touch = {"customer_id": cid, "channel": last_used, "direction": "inbound",
                     "at": when.isoformat()}  # fmt: skip
            await self.call("POST", "/v1/interactions", touch)

    async def promise(
        self, cid: str, ref: str, due_at: datetime, kind: str = "delivery", **attributes: Any
    ) -> int:
        """Create a promise and return its id."""
        body = {"customer_id": cid, "kind": kind, "due_at": due_at.isoformat(),
                "external_ref": ref, "attributes": {"order_id": ref, **attributes}}  # fmt: skip
        return int((await self.call("POST", "/v1/promises", body))["id"])

    async def advance(self, duration: str) -> datetime:
        """Move the daemon's clock forward; return its new now."""
        found = await self.call("POST", "/v1/test/clock", {"advance": duration})
        return datetime.fromisoformat(found["now"])

    async def timeline(self, cid: str) -> list[dict[str, Any]]:
        """The customer's timeline, newest first."""
        return list(await self.call("GET", f"/v1/customers/{cid}/timeline"))

"""Truthful health: /readyz and ``notifier status`` of a daemon whose database goes away.

PostgreSQL is reached through a TCP proxy in this process (tests/e2e/tcp_proxy.py) that
can cut the connections or blackhole them; the scan and the outcome writes are made to
fail for real (a database trigger refusing their rows), never by patching our code.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text

from notifier.engine.monitor import PROBE_TIMEOUT
from notifier.store.store import Store
from tests.e2e.conftest import DaemonFactory, Fakes
from tests.e2e.daemon import Daemon, daytime_zone, notifier, wait_for
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e
PROBE_BOUND = PROBE_TIMEOUT.total_seconds()
REFUSAL = "refused by a test trigger"


async def _readyz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    answer = await daemon.client.get("/readyz")
    return answer.status_code, answer.json()


def _unready_with(daemon: Daemon, pattern: str) -> Any:
    """A condition: /readyz answers 503 with a reason matching ``pattern``; returns the JSON."""

    async def check() -> dict[str, Any] | None:
        code, body = await _readyz(daemon)
        hit = code == 503 and any(re.search(pattern, r) for r in body["reasons"])
        return body if hit else None

    return check


async def _ready_again(daemon: Daemon) -> bool:
    code, body = await _readyz(daemon)
    return code == 200 and body["reasons"] == []


async def _status(daemon: Daemon, url: str, **extra: str) -> tuple[int, dict[str, Any]]:
    """``notifier status --json`` on ``url`` (in a thread: the proxy and fakes run here)."""
    env = {**daemon.env, "NOTIFIER_DATABASE_URL": url, **extra}
    done = await asyncio.to_thread(notifier, "status", "--json", env=env, cwd=daemon.home)
    assert done.returncode in (0, 3, 4), done.stderr
    return done.returncode, json.loads(done.stdout)


def _status_is(daemon: Daemon, url: str, code: int) -> Any:
    async def check() -> dict[str, Any] | None:
        found, report = await _status(daemon, url)
        return report if found == code else None

    return check


@pytest.mark.postgres
async def test_a_cut_database_unreadies_at_once_and_the_failing_scan_shows(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory
) -> None:
    daemon = await make_daemon(proxy.through(postgres_url)).started()
    await wait_for(_status_is(daemon, postgres_url, 0), "status 0 on a healthy daemon")

    proxy.cut()
    body = await wait_for(_unready_with(daemon, r"^database: "), "503 naming the database")
    assert body["status"] == "not ready" and body["database"].startswith("error: ")
    body = await wait_for(
        _unready_with(daemon, r"^scan: failed on the last \d+ ticks: "), "the scan's failures"
    )
    assert body["scan"]["failures"] >= 3 and body["scan"]["error"]
    metrics = (await daemon.client.get("/metrics")).text
    assert "notifier_ready 0.0" in metrics
    assert re.search(r"^notifier_scan_consecutive_failures [1-9]", metrics, re.M), metrics
    # status reads the database directly: the daemon cannot publish, so it looks stale.
    report = await wait_for(_status_is(daemon, postgres_url, 3), "status 3 while cut off")
    assert report["health"]["findings"][0]["text"].startswith("no scan for ")
    assert (await daemon.client.get("/healthz")).status_code == 200  # alive all along

    proxy.heal()
    await wait_for(lambda: _ready_again(daemon), "ready again once the proxy heals")
    await wait_for(_status_is(daemon, postgres_url, 0), "status 0 once the scan runs again")
    metrics = (await daemon.client.get("/metrics")).text
    assert "notifier_ready 1.0" in metrics and "notifier_scan_consecutive_failures 0.0" in metrics
    assert await daemon.stop() == 0


@pytest.mark.postgres
async def test_a_blackholed_database_gets_a_503_within_the_bound_then_the_stuck_scan(
    postgres_url: str, proxy: TcpProxy, make_daemon: DaemonFactory
) -> None:
    daemon = await make_daemon(proxy.through(postgres_url)).started()
    proxy.blackhole()

    # Without a bound this request would hang as long as the database stays silent; the
    # client gives up after 30 s, far past the probe's bound.
    async with httpx.AsyncClient(base_url=str(daemon.client.base_url), timeout=30) as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["database"] == f"error: no answer within {PROBE_BOUND:g}s"
    assert f"database: no answer within {PROBE_BOUND:g}s" in body["reasons"]

    # The scan under way waits on the silent database and never fails: it counts as
    # stuck once it runs past its limit (30 s at least, whatever the interval).
    await wait_for(_unready_with(daemon, r"^scan: running for \S+ without an answer"),
                   "the stuck scan named on /readyz", interval=1.0)  # fmt: skip

    proxy.heal()
    await wait_for(lambda: _ready_again(daemon), "ready again once the proxy heals")
    assert await daemon.stop() == 0


_TRIGGERS = {
    "sqlite": {
        "scan": [f"CREATE TRIGGER refuse_scan BEFORE INSERT ON notifications "
                 f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"],
        "writes": [f"CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON notifications "
                   f"WHEN NEW.status = 'sent' BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"],
    },
    "postgresql": {
        "scan": [
            f"CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$",
            "CREATE TRIGGER refuse_scan BEFORE INSERT ON notifications "
            "FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
        "writes": ["CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON notifications "
                   "FOR EACH ROW WHEN (NEW.status = 'sent') EXECUTE FUNCTION refuse()"],
    },
}  # fmt: skip
_DROP = {"scan": "DROP TRIGGER refuse_scan", "writes": "DROP TRIGGER refuse_outcomes"}


async def _sql(url: str, *statements: str) -> None:
    store = Store.open(url)
    try:
        async with store.transaction() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await store.close()


async def _refuse(url: str, what: str) -> None:
    """Make the database refuse the scan's new rows, or the outcome writes, until allowed."""
    await _sql(url, *_TRIGGERS[make_url(url).get_backend_name()][what])


async def _allow(url: str, what: str) -> None:
    on = " ON notifications" if url.startswith("postgresql") else ""
    await _sql(url, _DROP[what] + on)


async def test_failing_scans_and_failing_outcome_writes_unready_and_status_says_so(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    daemon = await make_daemon(e2e_db, NOTIFIER_READY_MAX_SCAN_FAILURES="2").started()
    now = datetime.now(UTC)
    zone = daytime_zone(now)

    # The scan fails on every tick: the store answers, the scan's rows are refused.
    await _refuse(e2e_db, "scan")
    await daemon.customer("c-scan", phone="+5491155550701", timezone=zone)
    await daemon.promise("c-scan", "order-scan", now - timedelta(hours=2))
    body = await wait_for(
        _unready_with(daemon, rf"^scan: failed on the last \d+ ticks: .*{REFUSAL}"),
        "503 after two failed ticks",
    )
    assert body["database"] == "ok" and body["scan"]["failures"] >= 2
    report = await wait_for(_status_is(daemon, e2e_db, 3), "status 3: no scan succeeds")
    texts = [f["text"] for f in report["health"]["findings"]]
    assert texts[0].startswith("no scan for ") and "the daemon looks stale" in texts[0]
    assert any(t.startswith("the scan failed on the last ") and REFUSAL in t for t in texts)
    await _allow(e2e_db, "scan")
    await wait_for(lambda: _ready_again(daemon), "ready once the scan goes through")
    await wait_for(lambda: fakes.sms_to("+5491155550701"), "the late promise's SMS")
    await wait_for(_status_is(daemon, e2e_db, 0), "status 0 again")

    # Outcome writes fail: the SMS goes out but its result cannot be recorded.
    await _refuse(e2e_db, "writes")
    await daemon.customer("c-write", phone="+5491155550702", timezone=zone)
    await daemon.promise("c-write", "order-write", now - timedelta(hours=2))
    body = await wait_for(_unready_with(daemon, rf"^writes: the last .*{REFUSAL}"),
                          "503 while outcome writes fail")  # fmt: skip
    assert body["writes"]["failures"] >= 1
    report = await wait_for(_status_is(daemon, e2e_db, 4), "status 4: outcomes not written")
    assert any(f["text"].startswith("outcome writes are failing")
               for f in report["health"]["findings"])  # fmt: skip
    assert report["sending"]["count"] == 1 and report["counts"]["sending"] == 1
    await _allow(e2e_db, "writes")
    await wait_for(lambda: _ready_again(daemon), "ready once outcomes are written")
    report = await wait_for(_status_is(daemon, e2e_db, 0), "status 0 once written")
    assert report["counts"] == {"sent": 2} and report["sending"]["count"] == 0
    assert len(fakes.sms_to("+5491155550702")) == 1  # written late, never sent twice

    # The daemon stops; a check run four intervals after its last scan finds it stale.
    assert await daemon.stop() == 0
    _, final = await _status(daemon, e2e_db)
    last = datetime.fromisoformat(final["scan"]["last_ok"])
    later = (last + timedelta(seconds=4)).isoformat()
    code, stale = await _status(daemon, e2e_db, NOTIFIER_NOW=later)
    assert code == 3 and stale["health"]["status"] == "stale"
    assert stale["health"]["findings"][0]["text"].startswith("no scan for 4s on a 1s interval")

"""``notifier status`` as a monitoring check on real stores: exit 0, 3 (stale), 4 (stuck).

The CLI is given the instant to judge at (``NOTIFIER_NOW``, test mode), later than what
the store holds; the scan state is what the daemon's own ``Health`` publishes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from notifier.domain.outbox import Change, Event
from notifier.domain.published import ScanFigures
from notifier.engine.delivery.recovery import recover
from notifier.engine.monitor import Health
from notifier.store.store import Store
from tests.fakes.http_server import Failure
from tests.integration.cli_runner import Cli
from tests.integration.rig import ROOT, Rig

FIGURES = ScanFigures(promises=2, scheduled=1, broken=1, seconds=0.004)


class Status:
    """Runs ``notifier status`` on the test's database as of a given instant."""

    def __init__(self, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cli = cli
        self.monkeypatch = monkeypatch

    async def text(self, at: datetime) -> tuple[int, list[str]]:
        self.monkeypatch.setenv("NOTIFIER_NOW", at.isoformat())
        code, out, err = await self.cli("status")
        assert err == "", err
        return code, out.splitlines()

    async def json(self, at: datetime) -> tuple[int, dict[str, Any]]:
        self.monkeypatch.setenv("NOTIFIER_NOW", at.isoformat())
        code, out, err = await self.cli("status", "--json")
        assert err == "", err
        return code, json.loads(out)


@pytest.fixture
def status(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Status:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    monkeypatch.setenv("NOTIFIER_TEST_MODE", "1")
    monkeypatch.setenv("NOTIFIER_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.delenv("NOTIFIER_SCAN_INTERVAL", raising=False)  # the CLI's own: 30s
    return Status(Cli(capsys), monkeypatch)


async def _publish(store: Store, health: Health, at: datetime) -> None:
    """Publish the scan state as the daemon does after a tick at ``at``."""
    await store.publish(health.state(replace(FIGURES, now=at)), at)


async def test_stale_until_a_scan_is_published_then_ok_then_stale_after_three_intervals(
    rig: Rig, status: Status
) -> None:
    t0 = rig.clock.now()
    code, lines = await status.text(t0)
    assert code == 3
    assert lines[0] == "stale: no scan was ever published: is notifier run up?"
    assert "last scan: never published (is notifier run up?)" in lines

    health = Health(timedelta(seconds=10), 3)  # the daemon's interval, not the CLI's 30s
    health.scan_done(t0)
    await _publish(rig.store, health, t0)
    code, lines = await status.text(t0 + timedelta(seconds=20))
    assert code == 0
    assert lines[0] == "ok: the daemon scans on time and nothing is stuck"
    assert "queue: 0 pending; none sending" in lines
    assert "last scan: 20s ago (every 10s): 2 promises, 1 scheduled, 1 broken, took 0.004s" in lines
    assert "scan errors: none" in lines and "outcome write errors: none" in lines
    assert not any("True" in line or "False" in line for line in lines)

    code, lines = await status.text(t0 + timedelta(seconds=31))
    assert code == 3
    assert lines[0] == "stale: no scan for 31s on a 10s interval: the daemon looks stale"

    code, report = await status.json(t0 + timedelta(seconds=31))  # the full report, still 3
    assert code == 3 and report["counts"] == {} and report["pending"] == 0
    assert report["health"]["status"] == "stale" and report["health"]["exit_code"] == 3
    # The CLI's clock starts at NOTIFIER_NOW and runs on at the machine's pace.
    assert report["health"]["scan_interval_s"] == 10
    assert int(report["health"]["last_scan_age_s"]) == 31
    assert report["scan"]["health"]["scan"]["failures"] == 0


async def test_a_row_sending_past_its_lease_is_stuck(rig: Rig, status: Status) -> None:
    await rig.customer("ana", last_used="sms")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await rig.scan()
    now = rig.clock.now()
    (claimed,) = await rig.store.claim(now, "notifier-gone", timedelta(seconds=60), 10)
    health = Health(timedelta(seconds=30), 3)
    health.scan_done(now)
    await _publish(rig.store, health, now)

    code, lines = await status.text(now + timedelta(seconds=10))  # leased, in flight
    assert code == 0 and "queue: 0 pending; 1 sending, the oldest claimed 10s ago" in lines

    later = now + timedelta(minutes=2)  # the lease ran out 1 min ago; the scans go on
    health.scan_done(later)
    await _publish(rig.store, health, later)
    code, lines = await status.text(later)
    assert code == 4
    assert lines[0].startswith("stuck: 1 notification stuck in sending past the lease")
    assert "queue: 0 pending; 1 sending, the oldest claimed 2m ago, 1 past the lease" in lines
    code, report = await status.json(later)
    assert code == 4 and report["counts"] == {"sending": 1}
    sending = report["sending"]
    assert (sending["count"], int(sending["oldest_age_s"]), sending["past_lease"]) == (1, 120, 1)
    assert claimed.customer_id == "ana"


async def test_rows_waiting_for_a_lookup_are_shown_not_zero_pending(
    rig: Rig, status: Status
) -> None:
    await rig.customer("ana", last_used="sms")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await rig.scan()
    now = rig.clock.now()
    (n,) = await rig.store.claim(now, "notifier-gone", timedelta(seconds=1), 10)
    attempt = Change(n.id, Event("attempt", "attempt 1", "sms"), channel="sms",
                     address="+5491155550101", body="hola", attempted_at=now)  # fmt: skip
    await rig.store.apply_changes([attempt], now)
    later = now + timedelta(seconds=5)  # the dead process's lease ran out; Twilio fails
    rig.twilio.failures.append(Failure(status=500, code=20500, count=10))
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "notifier-me", later
    )
    assert report.deferred == 1
    health = Health(timedelta(seconds=30), 3)
    health.scan_done(later)
    await _publish(rig.store, health, later)

    code, lines = await status.text(later)
    assert code == 0
    assert "queue: 0 pending; 1 sending, the oldest claimed 0s ago, 1 waiting for a lookup" in (
        lines
    ), lines
    assert any("1 notification waiting for a lookup at the provider" in line for line in lines)
    code, report_json = await status.json(later)
    assert report_json["sending"]["awaiting_lookup"] == 1


async def test_failing_writes_are_stuck_and_failing_scans_are_named(
    rig: Rig, status: Status
) -> None:
    now = rig.clock.now()
    try:  # a real driver error, as a failing write would raise it
        async with rig.store.reading() as conn:
            await conn.execute(
                text("SELECT phone FROM no_such_table WHERE phone = '+5491155550101'")
            )
    except Exception as exc:
        error = exc
    health = Health(timedelta(seconds=30), 3)
    health.scan_done(now)
    health.scan_done(now + timedelta(seconds=30), error)
    health.scan_done(now + timedelta(seconds=60), error)
    health.write_done(now + timedelta(seconds=61), error)
    await _publish(rig.store, health, now + timedelta(seconds=60))

    code, lines = await status.text(now + timedelta(seconds=62))
    assert code == 4
    assert lines[0].startswith("stuck: outcome writes are failing (1 time in a row): ")
    assert lines[1].startswith("note: the scan failed on the last 2 ticks: ")
    assert "no_such_table" in lines[1]
    assert any(line.startswith("scan errors: 2 failures in a row, the first 32s ago: ")
               for line in lines)  # fmt: skip
    assert not any("[SQL" in line or "5555" in line for line in lines)  # no statement, no phone


async def test_readyz_without_a_daemon_answers_on_the_database_alone(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get("/readyz")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["database"], body["reasons"]) == ("ready", "ok", [])
    assert body["problems"] == [] and body["scan"]["failures"] == 0
    assert set(body) == {"status", "database", "problems", "reasons", "scan", "writes", "dispatch"}

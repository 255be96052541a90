"""`notifier status` lists the promises the scan cannot plan and the latest render errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.published import ScanFigures
from notifier.engine.monitor import Health
from tests.integration.cli_runner import Cli
from tests.integration.poison import insert_customer, insert_promise
from tests.integration.rig import ROOT, Rig

FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
HUGE = {"order_id": "R-1", "amount": 1e27, "currency": "ARS"}


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The CLI on the rig's database, judging at the instant of the scan the test publishes."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    monkeypatch.setenv("NOTIFIER_TEST_MODE", "1")
    monkeypatch.setenv("NOTIFIER_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(ROOT / "templates"))
    return Cli(capsys)


async def _scanned(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish a scan at the rig's instant, as the daemon does, and have the CLI judge then."""
    now = rig.clock.now()
    health = Health(timedelta(seconds=30), 3)
    health.scan_done(now)
    await rig.store.publish(health.state(ScanFigures(promises=0, now=now)), now)
    monkeypatch.setenv("NOTIFIER_NOW", now.isoformat())


async def test_status_lists_plan_errors_and_render_errors(
    rig: Rig, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _scanned(rig, monkeypatch)
    code, out, _ = await cli("status")
    assert code == 0 and "plan errors: none" in out and "render errors" not in out

    rig.clock.advance(timedelta(hours=7))  # a refund a business day late, before quiet hours
    now = rig.clock.now()
    await rig.customer("ana")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await insert_customer(rig.store, "bea", now)
    far = await insert_promise(rig.store, "bea", "order-far", FAR, now)
    await insert_promise(rig.store, "bea", "refund-bea", now - timedelta(hours=26), now,
                         kind="refund", attributes=HUGE)  # fmt: skip
    await rig.tick()
    await _scanned(rig, monkeypatch)

    code, out, _ = await cli("status", "--json")
    assert code == 4  # --json prints the whole report whatever the exit code
    report = json.loads(out)
    assert set(report["counts"]) == {"sent", "failed"}  # the shape of counts is unchanged
    assert report["plan_error_count"] == 1
    (plan,) = report["plan_errors"]
    assert (plan["id"], plan["customer_id"], plan["rule"], plan["failures"]) == (
        far, "bea", "delivery-late", 1
    )  # fmt: skip
    assert plan["reason"].startswith("rule delivery-late: OverflowError")
    assert datetime.fromisoformat(plan["since"]) == now
    (render,) = report["render_errors"]
    assert (render["customer_id"], render["message"]) == ("bea", "refund_late")
    assert render["reason"].startswith("render_error: ") and "refund_late/" in render["reason"]

    code, out, _ = await cli("status")
    assert code == 4  # work is stuck: a promise the rules cannot plan
    assert "plan errors: 1 promise(s) the rules cannot plan" in out
    assert f"promise {far} (customer bea, delivery)" in out and "1 failure(s)" in out
    assert "render errors:" in out and "refund_late sms: render_error: " in out

"""One bad input silences no one: a daemon holding a promise no rule can plan, an amount no
template can render and a broken template edit still tells every other customer, and logs
no traceback text.

The daemon's clock starts at a fixed instant (``NOTIFIER_NOW``, test mode): business days
and quiet hours then come out the same whatever the machine's date.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.store.store import Store
from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import ROOT, Daemon, wait_for
from tests.integration.poison import events_of, insert_customer, insert_promise

pytestmark = pytest.mark.e2e

# A Tuesday, noon in Buenos Aires: inside working hours, outside quiet hours.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ZONE = "America/Argentina/Buenos_Aires"
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)  # overflows any rule's arithmetic


async def _problems(daemon: Daemon) -> list[str]:
    answer = await daemon.client.get("/readyz")
    return list(answer.json().get("problems") or [])


async def _customer(daemon: Daemon, cid: str, **values: Any) -> None:
    await daemon.customer(
        cid, name="Ana Pérez", locale="es", timezone=ZONE, at=NOW - timedelta(days=2), **values
    )


async def _poison(url: str) -> tuple[int, int]:
    """Insert, as a hand-made INSERT would, a promise due in 9999 and a refund of 1e27."""
    store = Store.open(url)
    try:
        await insert_customer(store, "c-bea", NOW, locale="es", last_used_channel="email")
        far = await insert_promise(store, "c-bea", "order-far", FAR, NOW)
        huge = await insert_promise(
            store, "c-bea", "refund-huge", NOW - timedelta(days=5), NOW, kind="refund",
            attributes={"order_id": "refund-huge", "amount": 1e27, "currency": "ARS"},
        )  # fmt: skip
        return far, huge
    finally:
        await store.close()


async def _plan_errors(url: str, pid: int) -> list[dict[str, Any]]:
    store = Store.open(url)
    try:
        return await events_of(store, pid, "plan_error")
    finally:
        await store.close()


async def test_a_poisoned_promise_amount_and_template_silence_no_one_else(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes, tmp_path: Path
) -> None:
    rules, templates = tmp_path / "rules", tmp_path / "templates"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "templates", templates)
    daemon = await make_daemon(
        e2e_db, NOTIFIER_NOW=NOW.isoformat(), NOTIFIER_RULES_DIR=str(rules),
        NOTIFIER_TEMPLATES_DIR=str(templates),
    ).started()  # fmt: skip

    # A broken edit of the very template the others' apologies use: refused, the last good
    # one stays in force.
    sms = templates / "delivery_late" / "sms.es.j2"
    draft = sms.with_name(".sms.es.j2.draft")
    draft.write_text("{{ 1 / 0 }}\n")
    draft.replace(sms)

    async def refused() -> list[str]:
        return [p for p in await _problems(daemon) if p.startswith(f"{sms}:")]

    await wait_for(refused, "the broken template on /readyz")

    far, huge = await _poison(e2e_db)
    await _customer(daemon, "c-ana", phone="+5491155550801")
    await daemon.promise("c-ana", "order-ana", NOW - timedelta(hours=2))
    await _customer(daemon, "c-carla", email="carla@example.com", last_used="email")
    await daemon.promise(
        "c-carla", "refund-carla", NOW - timedelta(days=5), kind="refund", amount=120,
        currency="ARS",
    )  # fmt: skip

    sent = await wait_for(lambda: fakes.sms_to("+5491155550801"), "Ana's apology by SMS")
    assert "no llegó" in sent[0]["body"]  # the last good template, not the broken edit
    await wait_for(lambda: fakes.mail_to("carla@example.com"), "Carla's refund apology")

    async def bea_failed() -> list[dict[str, Any]]:
        found = [
            r
            for r in await rows(e2e_db)
            # The refund is days late: its latest step speaks (late_person), not the first.
            if r["promise_id"] == huge and r["message"] != "escalation"
        ]
        return found if found and all(r["status"] == "failed" for r in found) else []

    (failed,) = await wait_for(bea_failed, "the 1e27 refund failed alone")
    assert failed["promise_id"] == huge
    assert str(failed["error"]).startswith("render_error"), failed["error"]
    assert fakes.mail_to("c-bea@example.com") == []

    (plan_error,) = await wait_for(lambda: _plan_errors(e2e_db, far), "the plan_error event")
    assert plan_error["data"]["rule"] == "delivery-late", plan_error
    assert "OverflowError" in plan_error["data"]["reason"], plan_error

    async def settled() -> bool:  # the ops escalations of the late refunds included
        return not [r for r in await rows(e2e_db) if r["status"] in ("pending", "sending")]

    await wait_for(settled, "every notification settled")
    assert daemon.proc is not None and daemon.proc.poll() is None  # still running
    assert await daemon.stop() == 0
    assert "Traceback" not in daemon.stderr()

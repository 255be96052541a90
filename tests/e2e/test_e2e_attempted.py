"""Attempted means attempted: X DMs waiting for a slow rate at SIGTERM go back, never ``unknown``.

X offers no lookup, so a DM whose attempt was recorded but whose fate is unclear ends
``unknown``. A DM still waiting for the rate limiter was never attempted: at SIGTERM it
goes back to the outbox with nothing counted, and the next run sends it, once. So does
one whose attempt was written but whose slot had not come when the grace ended: its
request never left, and its attempt is given back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.store.store import Store
from tests.e2e.conftest import DaemonFactory, Fakes, reasons, rows, settled_rows
from tests.e2e.daemon import daytime_zone, notifier, wait_for

pytestmark = pytest.mark.e2e

DMS = 60


def _ledger(home: Path, now: datetime) -> list[Path]:
    zone = daytime_zone(now)
    files: dict[str, list[dict[str, Any]]] = {"customers": [], "interactions": [], "promises": []}
    for i in range(DMS):
        cid = f"x-{i:03d}"
        files["customers"].append({"id": cid, "name": f"Cliente {i}", "locale": "es",
                                   "timezone": zone, "x_user_id": str(800000 + i)})  # fmt: skip
        files["interactions"].append({"customer_id": cid, "channel": "x", "direction": "inbound",
                                      "at": (now - timedelta(hours=1)).isoformat()})  # fmt: skip
        files["promises"].append({"customer_id": cid, "kind": "delivery", "external_ref": f"o-{i}",
                                  "due_at": (now - timedelta(hours=2)).isoformat(),
                                  "attributes": {"order_id": f"o-{i}"}})  # fmt: skip
    paths = []
    for name, records in files.items():
        path = home / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        paths.append(path)
    return paths


async def test_dms_waiting_for_the_rate_at_sigterm_are_sent_once_after_restart(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    daemon = make_daemon(
        e2e_db, NOTIFIER_RATE_X="4", NOTIFIER_X_DAILY_QUOTA="100000",
        NOTIFIER_SHUTDOWN_GRACE="5s", NOTIFIER_LOG_LEVEL="WARNING",
    )  # fmt: skip
    for path in _ledger(daemon.home, datetime.now(UTC)):
        done = notifier("import", str(path), env=daemon.env, cwd=daemon.home)
        assert done.returncode == 0, done.stderr
    await daemon.started()
    await wait_for(lambda: len(fakes.x.sent) >= 3, "the first DMs out")
    assert await daemon.stop() == 0
    before = await rows(e2e_db)
    waiting = [r for r in before if r["status"] == "pending"]
    assert len(waiting) >= DMS // 2, "SIGTERM came too late: few DMs were still waiting"
    assert not [r for r in before if r["status"] in ("sending", "unknown")]
    assert all(r["attempts"] == 0 and r["lease_owner"] is None for r in waiting)
    sent_before = len(fakes.x.sent)

    await daemon.started()
    found = await settled_rows(e2e_db, DMS)
    assert await daemon.stop() == 0
    assert Counter(r["status"] for r in found) == {"sent": DMS}
    dms = Counter(d["participant_id"] for d in fakes.x.sent)
    assert sorted(dms) == sorted(str(800000 + i) for i in range(DMS))
    assert set(dms.values()) == {1}, "a DM went twice"
    assert len(fakes.x.sent) - sent_before == DMS - sent_before


async def test_a_dm_attempted_but_not_left_at_sigterm_is_given_back(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    """The process stopped (SIGSTOP) across its DM's slot wakes past the fence: the DM's
    attempt is written, its slot given up, the new one far away (the cluster's X bucket
    busy: another replica's reservations). SIGTERM then: the request never left, the
    attempt is given back."""
    daemon = make_daemon(
        e2e_db, NOTIFIER_RATE_X="1", NOTIFIER_X_DAILY_QUOTA="100000",
        NOTIFIER_SHUTDOWN_GRACE="1s", NOTIFIER_LOG_LEVEL="WARNING",
    )  # fmt: skip
    for path in _ledger(daemon.home, datetime.now(UTC)):
        done = notifier("import", str(path), env=daemon.env, cwd=daemon.home)
        assert done.returncode == 0, done.stderr
    store = Store.open(e2e_db)
    try:
        pushed = await store.reserve_rate("x", "default", 8.0, 1.0)
        assert pushed.slot is not None
        slot = pushed.slot + 8.0  # the first DM's slot, on the database's (this host's) clock
        await daemon.started()

        async def reserved() -> bool:
            bucket = await store.rate_bucket("x", "default")
            return bucket is not None and bucket.tat > slot

        await wait_for(reserved, "the first DM's slot reserved", interval=0.05)
        assert time.time() < slot - 1.0, "the daemon took too long to start"
        await store.reserve_rate("x", "default", 30.0, 1.0)  # the next slots far away
    finally:
        await store.close()
    assert daemon.proc is not None
    await asyncio.sleep(slot - 0.3 - time.time())
    daemon.proc.send_signal(signal.SIGSTOP)
    await asyncio.sleep(slot + 1.0 - time.time())
    daemon.proc.send_signal(signal.SIGCONT)

    async def attempted() -> list[dict[str, Any]]:
        return [r for r in await rows(e2e_db) if r["attempted_at"] is not None]

    (first,) = await wait_for(attempted, "the DM attempted after its slot")
    assert await daemon.stop() == 0
    assert fakes.x.sent == [], "a DM left outside its slot"
    after = await rows(e2e_db)
    assert {(r["status"], r["attempts"], r["attempted_at"]) for r in after} == {
        ("pending", 0, None)
    }
    history = await reasons(e2e_db, first["id"])
    assert history[-2].startswith("attempt:"), history
    assert history[-1].startswith("released: stopped before the request left"), history

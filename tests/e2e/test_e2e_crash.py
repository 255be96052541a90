"""kill -9 during a big dispatch, again and again: in the end every message arrived exactly once.

The documented exceptions: an email resent after a crash carries the same Message-ID
(count distinct ids), and an X message whose send was cut short ends ``unknown``. An SMS
or WhatsApp message is looked up at Twilio before it is sent again, so it never ends
``unknown`` and never arrives twice. On PostgreSQL a second replica runs throughout and
takes over what the killed one leaves behind.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from notifier.store.convert import notification_events
from notifier.store.store import Store
from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import Daemon, daytime_zone, notifier, wait_for, write_jsonl

pytestmark = pytest.mark.e2e

CUSTOMERS = 2000
KILLS = 3
CHANNELS = ("sms", "email", "whatsapp", "x")


def _ledger(home: Path, now: datetime) -> list[Path]:
    """Files for ``notifier import``: customers, their last touchpoint, one late delivery each."""
    zone = daytime_zone(now)
    customers, touches, promises = [], [], []
    for i in range(CUSTOMERS):
        cid, channel = f"k-{i:04d}", CHANNELS[i % len(CHANNELS)]
        customers.append({"id": cid, "name": f"Cliente {i}", "locale": "es", "timezone": zone,
                          "phone": f"+54911500{i:05d}", "whatsapp": f"+54911600{i:05d}",
                          "email": f"{cid}@example.com", "x_user_id": str(700000 + i)})  # fmt: skip
        # An hour ago keeps WhatsApp's 24-hour session open for free-form text.
        at = now - timedelta(hours=1)
        touches.append({"customer_id": cid, "channel": channel, "direction": "inbound",
                        "at": at.isoformat()})  # fmt: skip
        promises.append({"customer_id": cid, "kind": "delivery", "external_ref": f"o-{i}",
                         "due_at": (now - timedelta(hours=2)).isoformat(),
                         "attributes": {"order_id": f"o-{i}"}})  # fmt: skip
    return [
        write_jsonl(home / "customers.jsonl", customers),
        write_jsonl(home / "interactions.jsonl", touches),
        write_jsonl(home / "promises.jsonl", promises),
    ]


def _received(fakes: Fakes) -> int:
    return len(fakes.twilio.messages) + len(fakes.smtp.received) + len(fakes.x.sent)


def _reached(fakes: Fakes, target: int) -> bool:
    return _received(fakes) >= target


async def _recovered(url: str) -> int:
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            query = select(func.count()).where(
                notification_events.c.type.in_(["recovered", "unknown"])
                | notification_events.c.reason.like("found at the provider%")
            )
            return int(await conn.scalar(query) or 0)
    finally:
        await store.close()


async def _all_settled(url: str) -> list[dict[str, Any]]:
    found = await rows(url)
    busy = [r for r in found if r["status"] in ("pending", "sending")]
    return found if len(found) == CUSTOMERS and not busy else []


async def test_kill_9_during_dispatch_loses_nothing_and_sends_nothing_twice(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    settings = {
        "NOTIFIER_LEASE": "2s", "NOTIFIER_RATE_SMS": "100000", "NOTIFIER_RATE_WHATSAPP": "100000",
        "NOTIFIER_RATE_EMAIL": "100000", "NOTIFIER_RATE_X": "100000",
        "NOTIFIER_X_DAILY_QUOTA": "1000000", "NOTIFIER_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    # PostgreSQL runs replicas side by side (SKIP LOCKED claims); SQLite allows one daemon.
    count = 2 if e2e_db.startswith("postgresql") else 1
    daemons: list[Daemon] = [make_daemon(e2e_db, **settings) for _ in range(count)]
    home, env = daemons[0].home, daemons[0].env
    customers, *rest = _ledger(home, now)
    imported = [notifier("import", str(customers), env=env, cwd=home)]
    # Touchpoints and promises only need the customers: import them side by side.
    with ThreadPoolExecutor(2) as pool:
        imported += pool.map(lambda p: notifier("import", str(p), env=env, cwd=home), rest)
    assert [d.returncode for d in imported] == [0, 0, 0], [d.stderr for d in imported]
    fakes.twilio.latency_ms = 300  # sends take a while: kills land in the middle of some
    rng = random.Random(7)

    for kill in range(KILLS):
        before = _received(fakes)
        await daemons[0].started()
        # Kill once this run has got somewhere: a few dozen more messages out.
        target = min(before + rng.randint(20, 200), CUSTOMERS)
        await wait_for(partial(_reached, fakes, target), "progress before the kill")
        daemons[0].kill()
        if kill == 0:
            # The other replicas join after the first kill and run on throughout. Started
            # before it, on a loaded machine they could send everything while this one
            # starts, and no kill would land mid-send.
            for daemon in daemons[1:]:
                await daemon.started()
        if _received(fakes) >= CUSTOMERS:
            break

    await daemons[0].started()
    found = await wait_for(lambda: _all_settled(e2e_db), "every notification settled", 180)
    assert [await d.stop() for d in daemons] == [0] * count
    assert await _recovered(e2e_db) > 0, "no kill landed mid-send: the test proved nothing"

    by_channel: dict[str, list[dict[str, Any]]] = {c: [] for c in CHANNELS}
    for r in found:
        by_channel[r["channel"]].append(r)
    assert {c: len(v) for c, v in by_channel.items()} == dict.fromkeys(CHANNELS, CUSTOMERS // 4)

    texts = Counter(m["to"] for m in fakes.twilio.messages)
    for r in by_channel["sms"] + by_channel["whatsapp"]:
        assert r["status"] == "sent", r  # never unknown: Twilio is asked before a resend
        to = r["address"] if r["channel"] == "sms" else f"whatsapp:{r['address']}"
        assert texts[to] == 1, r

    ids: dict[str, set[str]] = {}
    for mail in fakes.smtp.received:
        ids.setdefault(mail.rcpt_tos[0], set()).add(mail.parsed()["Message-ID"])
    for r in by_channel["email"]:
        assert r["status"] == "sent", r
        assert len(ids.get(r["address"], set())) == 1, r

    dms = Counter(d["participant_id"] for d in fakes.x.sent)
    for r in by_channel["x"]:
        assert r["status"] in ("sent", "unknown"), r
        assert dms[r["address"]] == (1 if r["status"] == "sent" else dms[r["address"]]) <= 1, r

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
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    DaemonFactory,
    Fakes,
    crash_daemons,
    kill_repeatedly,
    recovered,
    rows,
)
from tests.e2e.daemon import daytime_zone, notifier, wait_for, write_jsonl

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


async def _all_settled(url: str) -> list[dict[str, Any]]:
    found = await rows(url)
    busy = [r for r in found if r["status"] in ("pending", "sending")]
    return found if len(found) == CUSTOMERS and not busy else []


async def test_kill_9_during_dispatch_loses_nothing_and_sends_nothing_twice(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemons = crash_daemons(make_daemon, e2e_db)
    home, env = daemons[0].home, daemons[0].env
    customers, *rest = _ledger(home, now)
    imported = [notifier("import", str(customers), env=env, cwd=home)]
    # Touchpoints and promises only need the customers: import them side by side.
    with ThreadPoolExecutor(2) as pool:
        imported += pool.map(lambda p: notifier("import", str(p), env=env, cwd=home), rest)
    assert [d.returncode for d in imported] == [0, 0, 0], [d.stderr for d in imported]
    fakes.twilio.latency_ms = 300  # sends take a while: kills land in the middle of some
    await kill_repeatedly(
        daemons, fakes, kills=KILLS, total=CUSTOMERS, burst=(20, 200), rng=random.Random(7)
    )
    found = await wait_for(lambda: _all_settled(e2e_db), "every notification settled", 180)
    assert [await d.stop() for d in daemons] == [0] * len(daemons)
    assert await recovered(e2e_db) > 0, "no kill landed mid-send: the test proved nothing"

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

"""kill -9 in the middle of an incident's fan-out: every affected customer still gets one
apology, and after ``incident resolve`` one resolution; nothing lost, nothing twice.

The unique key ``incident:<id>:customer:<id>:update:<n>`` makes a second row impossible,
and the send path's crash recovery (an SMS looked up at Twilio before a resend, an email
resent with the same Message-ID, an X message cut short ends ``unknown``) makes a second
message impossible, as ``test_e2e_crash.py`` documents for rule notices. On PostgreSQL a
second replica joins after the first kill and runs throughout.
"""

from __future__ import annotations

import random
from collections import Counter
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

CUSTOMERS = 800
OUTSIDE = 50
KILLS = 2
CHANNELS = ("sms", "email", "whatsapp", "x")


def _ledger(home: Path, now: datetime) -> list[Path]:
    """Customers, their last touchpoint, two deliveries each not yet due (no rule speaks)."""
    zone = daytime_zone(now)
    customers, touches, promises = [], [], []
    for i in range(CUSTOMERS + OUTSIDE):
        cid, channel = f"k-{i:04d}", CHANNELS[i % len(CHANNELS)]
        customers.append({"id": cid, "name": f"Cliente {i}", "locale": "es", "timezone": zone,
                          "phone": f"+54911500{i:05d}", "whatsapp": f"+54911600{i:05d}",
                          "email": f"{cid}@example.com", "x_user_id": str(700000 + i)})  # fmt: skip
        at = now - timedelta(hours=1)  # WhatsApp's 24-hour session is open
        touches.append({"customer_id": cid, "channel": channel, "direction": "inbound",
                        "at": at.isoformat()})  # fmt: skip
        carrier = "andreani" if i < CUSTOMERS else "oca"
        for n in range(2):
            ref = f"o-{i}-{n}"
            promises.append({"customer_id": cid, "kind": "delivery", "external_ref": ref,
                             "due_at": (now + timedelta(hours=6 + n)).isoformat(),
                             "attributes": {"order_id": ref, "carrier": carrier}})  # fmt: skip
    return [
        write_jsonl(home / "customers.jsonl", customers),
        write_jsonl(home / "interactions.jsonl", touches),
        write_jsonl(home / "promises.jsonl", promises),
    ]


async def _settled(url: str, message: str) -> list[dict[str, Any]]:
    found = [r for r in await rows(url) if r["message"] == message]
    busy = [r for r in found if r["status"] in ("pending", "sending")]
    return found if len(found) == CUSTOMERS and not busy else []


def _once_each(found: list[dict[str, Any]], fakes: Fakes, already: Counter[str]) -> None:
    """Each row reached its customer once: ``already`` counts what each had before."""
    texts = Counter(m["to"] for m in fakes.twilio.messages)
    mails: dict[str, set[str]] = {}
    for mail in fakes.smtp.received:
        mails.setdefault(mail.rcpt_tos[0], set()).add(mail.parsed()["Message-ID"])
    dms = Counter(d["participant_id"] for d in fakes.x.sent)
    for r in found:
        if r["channel"] in ("sms", "whatsapp"):
            assert r["status"] == "sent", r  # Twilio is asked before a resend
            to = r["address"] if r["channel"] == "sms" else f"whatsapp:{r['address']}"
            assert texts[to] - already[to] == 1, r
        elif r["channel"] == "email":
            assert r["status"] == "sent", r
            assert len(mails.get(r["address"], set())) - already[r["address"]] == 1, r
        else:
            assert r["channel"] == "x" and r["status"] in ("sent", "unknown"), r
            assert dms[r["address"]] - already[r["address"]] <= 1, r
            if r["status"] == "sent":
                assert dms[r["address"]] - already[r["address"]] == 1, r


def _seen(fakes: Fakes) -> Counter[str]:
    seen = Counter(m["to"] for m in fakes.twilio.messages)
    for mail in {m.parsed()["Message-ID"]: m for m in fakes.smtp.received}.values():
        seen[mail.rcpt_tos[0]] += 1
    seen.update(d["participant_id"] for d in fakes.x.sent)
    return seen


async def test_kill_9_mid_fan_out_loses_and_repeats_no_apology(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemons = crash_daemons(make_daemon, e2e_db)
    home, env = daemons[0].home, daemons[0].env
    for path in _ledger(home, now):
        done = notifier("import", str(path), env=env, cwd=home)
        assert done.returncode == 0, done.stderr
    opened = notifier(
        "incident", "open", "--title", "Paro de transportistas", "--by", "ana",
        "--match", "kind=delivery", "--match", "attributes.carrier=andreani",
        "--message", "Un paro de transportistas frena los envíos.", env=env, cwd=home,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    iid = opened.stdout.strip()
    assert iid.isdigit(), opened.stdout  # the id alone, for ID=$(notifier incident open ...)
    fakes.twilio.latency_ms = 300  # sends take a while: kills land in the middle of some
    await kill_repeatedly(
        daemons, fakes, kills=KILLS, total=CUSTOMERS, burst=(20, 150), rng=random.Random(18)
    )
    found = await wait_for(lambda: _settled(e2e_db, "crisis_opened"), "every apology", 240)
    assert len({r["customer_id"] for r in found}) == CUSTOMERS
    assert all(int(r["customer_id"][2:]) < CUSTOMERS for r in found)  # nobody outside
    assert Counter(r["channel"] for r in found) == dict.fromkeys(CHANNELS, CUSTOMERS // 4)
    _once_each(found, fakes, Counter())
    assert await recovered(e2e_db) > 0, "no kill landed mid-send: the test proved nothing"

    told = _seen(fakes)
    resolved = notifier("incident", "resolve", iid, "--message", "Terminó el paro.",
                        env=env, cwd=home)  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    closing = await wait_for(lambda: _settled(e2e_db, "crisis_resolved"), "every resolution", 240)
    _once_each(closing, fakes, told)
    assert [await d.stop() for d in daemons] == [0] * len(daemons)
    shown = notifier("incident", "show", iid, "--json", env=env, cwd=home)
    assert shown.returncode == 0, shown.stderr

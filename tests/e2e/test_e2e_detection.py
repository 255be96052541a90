"""A crisis rule through ``notifier run``: a burst of one carrier in one region breaks, the
daemon proposes one incident and emails ops, nobody is told until ``incident confirm``,
and then only that segment's customers get the apology, once each.

The rules folder holds the crisis rule alone: no individual rule speaks when the
promises break, so every customer message comes from the incident. The daemon's clock
starts at a fixed instant (``NOTIFIER_NOW``, test mode) and moves only through the test
clock endpoint; the CLI (``incident list`` and ``confirm``, as ops run them) is given the
daemon's instant the same way. Reads go through the API: each CLI run costs seconds.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows, scanned_at_or_after, settled_rows
from tests.e2e.daemon import Daemon, notifier, wait_for

pytestmark = pytest.mark.e2e

# A Tuesday, noon in Buenos Aires: outside the customers' quiet hours.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ZONE = "America/Argentina/Buenos_Aires"
OPS = "ops@acme.example"
CRISIS_RULE = """\
crisis:
  - id: carrier-breakdown
    match: {kind: delivery}
    group_by: [attributes.carrier, attributes.region]
    window: 1h
    when: {broken_at_least: 4}
    for: 5m
    notify_customers: confirm
    incident:
      title: {es: "Demoras con {{ group.carrier }} en {{ group.region }}"}
"""
# Who holds which promises, as (carrier, region, due in minutes from NOW). Andreani in
# AMBA breaks five times (c-sms and c-mail twice each, c-x once); c-soon's Andreani AMBA
# delivery is due tomorrow, unsettled, so in the segment too. Andreani in Córdoba and OCA
# in AMBA break three times each: eight breaks per carrier and per region, but only the
# carrier and region together make a group, and no other group reaches four.
LEDGER: dict[str, list[tuple[str, str, int]]] = {
    "c-sms": [("andreani", "AMBA", 2)] * 2,
    "c-mail": [("andreani", "AMBA", 2)] * 2,
    "c-x": [("andreani", "AMBA", 2)],
    "c-soon": [("andreani", "AMBA", 24 * 60)],
    "c-cba": [("andreani", "Córdoba", 2)] * 3,
    "c-oca": [("oca", "AMBA", 2)] * 3 + [("oca", "AMBA", 24 * 60)],
}
CHANNELS = {"c-sms": "sms", "c-mail": "email", "c-x": "x", "c-soon": "sms", "c-cba": "sms",
            "c-oca": "email"}  # fmt: skip
SEGMENT = {"c-sms", "c-mail", "c-x", "c-soon"}


def _address(cid: str, channel: str) -> str:
    """Where ``cid`` is reached on ``channel``: the fakes' own key (number, mail, X id)."""
    n = sorted(CHANNELS).index(cid)
    return {"sms": f"+54911555508{n:02d}", "email": f"{cid}@example.com",
            "x": str(515150 + n)}[channel]  # fmt: skip


async def _ledger(daemon: Daemon) -> None:
    for cid, channel in CHANNELS.items():
        await daemon.customer(
            cid, last_used=channel, at=NOW - timedelta(days=2), name="Ana Pérez", locale="es",
            timezone=ZONE, phone=_address(cid, "sms"), email=_address(cid, "email"),
            x_user_id=_address(cid, "x"),
        )  # fmt: skip
        for n, (carrier, region, minutes) in enumerate(LEDGER[cid]):
            await daemon.promise(cid, f"{cid}-{n}", NOW + timedelta(minutes=minutes),
                                 carrier=carrier, region=region)  # fmt: skip


def _cli(daemon: Daemon, now: datetime, *args: str) -> str:
    """Run ``notifier`` on the daemon's database at the daemon's instant; return stdout."""
    env = {**daemon.env, "NOTIFIER_NOW": now.isoformat()}
    done = notifier(*args, env=env, cwd=daemon.home)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def _scanned(daemon: Daemon, url: str, duration: str) -> datetime:
    """Move the clock by ``duration``, wait for a scan at the new instant; return it."""
    at = await daemon.advance(duration)
    await wait_for(lambda: scanned_at_or_after(url, at), f"a scan {duration} later")
    return at


def _told(fakes: Fakes) -> Counter[str]:
    """Messages each address got, on any channel; ops' mailbox left out."""
    seen = Counter(m["to"] for m in fakes.twilio.messages)
    seen.update(a for m in fakes.smtp.received for a in m.rcpt_tos if a != OPS)
    seen.update(d["participant_id"] for d in fakes.x.sent)
    return seen


def _text(mail: Any) -> str:
    body = mail.parsed().get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def test_a_burst_is_proposed_to_ops_and_told_to_its_segment_only_once_confirmed(
    e2e_db: str, make_daemon: DaemonFactory, fakes: Fakes, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "crisis.yaml").write_text(CRISIS_RULE)
    daemon = await make_daemon(
        e2e_db, NOTIFIER_NOW=NOW.isoformat(), NOTIFIER_RULES_DIR=str(rules)
    ).started()
    await _ledger(daemon)

    # The deliveries due in two minutes break at the scan after; the group holds, not yet
    # for the rule's five minutes: nothing is proposed.
    await _scanned(daemon, e2e_db, "3m")
    assert await daemon.call("GET", "/v1/incidents") == []
    await _scanned(daemon, e2e_db, "5m")

    (mail,) = await wait_for(lambda: fakes.mail_to(OPS), "the ops email")
    (proposed,) = await daemon.call("GET", "/v1/incidents")
    iid = proposed["id"]
    assert proposed["detected"] and proposed["awaiting_confirmation"]
    assert proposed["status"] == "investigating"
    assert proposed["title"] == "Demoras con andreani en AMBA"
    assert proposed["segment"] == {"kind": ["delivery"], "attributes.carrier": ["andreani"],
                                   "attributes.region": ["AMBA"]}  # fmt: skip
    (detection,) = (await daemon.call("GET", f"/v1/incidents/{iid}"))["detections"]
    assert detection["numbers"] == {"broken": 5, "due": 5, "share": 1.0, "baseline": 1.0}
    assert mail.parsed()["Subject"] == (
        f"notifier: crisis detected, incident {iid}: Demoras con andreani en AMBA"
    )
    text = " ".join(_text(mail).split())
    assert "attributes.carrier=andreani attributes.region=AMBA breaking together" in text
    assert "5 broken of 5 due (100%); the usual is 1.0 a window" in text
    examples = re.search(r"Examples: ((?:[\w-]+, )*[\w-]+)", text)
    assert examples is not None, text
    assert sorted(examples.group(1).split(", ")) == [
        "c-mail-0", "c-mail-1", "c-sms-0", "c-sms-1", "c-x-0"
    ]  # fmt: skip
    assert f"notifier incident confirm {iid}" in text
    assert f"notifier incident dismiss {iid}" in text

    # Another scan and dispatch later nobody has been told, nor is anything planned for them.
    await _scanned(daemon, e2e_db, "1m")
    assert [r["message"] for r in await rows(e2e_db)] == ["ops_crisis_detected"]
    assert _told(fakes) == Counter() and len(fakes.smtp.received) == 1

    # A newer incident a person opened (over nobody) lists after the proposal that waits.
    body = {"title": "Correo demorado", "match": {"kind": "delivery",
            "attributes.carrier": "correo"}, "by": "ana"}  # fmt: skip
    manual = (await daemon.call("POST", "/v1/incidents", body))["id"]
    assert manual > iid
    now = await daemon.advance("1s")
    listed = _cli(daemon, now, "incident", "list").splitlines()
    assert [int(line.split()[0]) for line in listed if not line.startswith(" ")] == [iid, manual]
    assert listed[0].endswith("Demoras con andreani en AMBA (detected, waiting for confirmation)")

    confirmed = _cli(daemon, now, "incident", "confirm", str(iid), "--by", "ana")
    assert confirmed.strip() == f"incident {iid}: confirmed"
    found = await settled_rows(e2e_db, 1 + len(SEGMENT))
    apologies = [r for r in found if r["message"] == "crisis_opened"]
    assert {r["customer_id"]: (r["channel"], r["status"]) for r in apologies} == {
        cid: (CHANNELS[cid], "sent") for cid in SEGMENT
    }
    await _scanned(daemon, e2e_db, "1m")  # and a scan later, nothing more
    assert _told(fakes) == Counter(_address(cid, CHANNELS[cid]) for cid in SEGMENT)
    texts = [m["body"] for m in fakes.twilio.messages] + [d["text"] for d in fakes.x.sent]
    assert texts and all("Demoras con andreani en AMBA" in t for t in texts), texts
    assert await daemon.stop() == 0

"""The ops commands on a store the real scan and dispatcher filled: why, pause, status, dry run."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from notifier.domain.models import NotificationStatus
from notifier.domain.ops_notices import channel_down_notice
from notifier.domain.outbox import Scheduled
from notifier.domain.published import RulesState, ScanFigures, ScanState
from tests.integration.cli_runner import Cli, cli_env
from tests.integration.rig import Rig


@pytest.fixture
def cli(
    rig: Rig, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The CLI on the rig's database, its clock started at the rig's instant (NOTIFIER_NOW).

    The rig's clock is a fixed instant, whatever the machine's date: the CLI is given that
    instant, never an offset from the wall clock.
    """
    rig.clock.advance(timedelta(days=7))  # still noon in Buenos Aires
    cli_env(rig, db_url, monkeypatch)
    return Cli(capsys)


async def _ids(cli: Cli, customer: str) -> list[int]:
    rows = await cli.json("notification", "list", "--customer", customer)
    assert isinstance(rows, list)
    return [int(r["id"]) for r in rows]


async def test_show_says_why_one_customer_got_a_message_and_another_nothing(
    rig: Rig, cli: Cli
) -> None:
    await rig.customer("ana", last_used="sms")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await rig.customer("bob", last_used=None, phone=None, email=None)
    await rig.promise("bob", "order-2", timedelta(hours=-2))
    await rig.tick()

    (sent_id,) = await _ids(cli, "ana")
    shown = await cli.json("notification", "show", str(sent_id))
    assert isinstance(shown, dict)
    assert (shown["status"], shown["channel"], shown["rule_id"]) == ("sent", "sms", "delivery-late")
    types = [e["type"] for e in shown["history"]]
    assert types[0] == "scheduled" and "attempt" in types and types[-1] == "sent"
    assert "rule delivery-late" in shown["history"][0]["reason"]
    attempt = next(e for e in shown["history"] if e["type"] == "attempt")
    assert attempt["detail"]["via"] == "last used channel"

    (bob_id,) = await _ids(cli, "bob")
    code, out, _ = await cli("notification", "show", str(bob_id))
    assert code == 0
    assert f"notification {bob_id}: suppressed" in out
    assert "no channel left: sms no address; email no address" in out

    code, out, _ = await cli("notification", "list", "--status", "suppressed")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [str(bob_id)]
    code, _, err = await cli("notification", "show", "999999")
    assert (code, err.strip()) == (1, "notifier: error: notification 999999 not found")
    code, _, err = await cli("notification", "list", "--status", "lost")
    assert code == 2


async def test_api_serves_the_same_history(rig: Rig, cli: Cli, api: httpx.AsyncClient) -> None:
    await rig.customer("ana", last_used="sms")
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await rig.tick()
    (nid,) = await _ids(cli, "ana")

    answer = await api.get(f"/v1/notifications/{nid}")
    assert answer.status_code == 200
    assert answer.json() == await cli.json("notification", "show", str(nid))
    listed = await api.get("/v1/notifications", params={"customer": "ana", "status": "sent"})
    assert [r["id"] for r in listed.json()] == [nid]
    assert (await api.get("/v1/notifications/999999")).status_code == 404
    timeline = (await api.get("/v1/customers/ana/timeline")).json()
    assert nid in {e["notification_id"] for e in timeline}
    anonymous = await api.get(f"/v1/notifications/{nid}", headers={"Authorization": ""})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["pause"], "give --channel C or --rule ID", id="pause-nothing"),
        pytest.param(["resume"], "--all", id="resume-nothing"),
        pytest.param(["pause", "--channel", "smss"], "did you mean 'sms'", id="bad-channel"),
        pytest.param(["pause", "--rule", "delivery_late"], "did you mean 'delivery-late'",
                     id="bad-rule"),
    ],
)  # fmt: skip
async def test_pause_and_resume_refuse_what_would_do_nothing(
    cli: Cli, args: list[str], fragment: str
) -> None:
    code, _, err = await cli(*args)
    assert code == 2 and fragment in err


async def test_pause_holds_and_resume_lets_go_with_nothing_dropped(
    rig: Rig, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.customer("ana", last_used="sms")
    await rig.customer("eva", last_used="email")
    await rig.promise("ana", "order-1", timedelta(hours=-2))

    code, out, _ = await cli("pause", "--channel", "sms", "--reason", "carrier outage")
    assert code == 0 and out.startswith("paused: channel sms since ") and "carrier outage" in out
    # Each CLI run starts its clock at NOTIFIER_NOW: the second pause comes a second later.
    monkeypatch.setenv("NOTIFIER_NOW", (rig.clock.now() + timedelta(seconds=1)).isoformat())
    paused = await cli.json("pause", "--rule", "refund-late")
    assert isinstance(paused, dict)
    assert [(p["kind"], p["target"]) for p in paused["paused"]] == [
        ("channel", "sms"), ("rule", "refund-late")
    ]  # fmt: skip
    await rig.tick()
    assert rig.twilio.forms() == []
    (nid,) = await _ids(cli, "ana")
    shown = await cli.json("notification", "show", str(nid))
    assert isinstance(shown, dict)
    assert shown["status"] == "pending" and shown["history"][-1]["type"] == "held"

    code, out, _ = await cli("resume", "--channel", "sms")
    assert code == 0 and out.startswith("paused: rule refund-late since ")
    assert len(out.splitlines()) == 1
    rig.clock.advance(timedelta(minutes=1))  # the CLI's clock runs on from the rig's
    await rig.tick()
    assert len(rig.twilio.forms()) == 1

    # A paused rule's notices are scheduled but not sent; resuming sends them.
    code, _, _ = await cli("pause", "--rule", "delivery-late")
    await rig.promise("eva", "order-2", timedelta(hours=-2))
    rig.clock.advance(timedelta(minutes=1))  # the dispatcher re-reads pauses every 2 s
    await rig.tick()
    assert rig.smtp.received == []
    code, out, err = await cli("resume", "--rule", "nope")
    assert code == 0 and "rule nope was not paused" in err
    code, out, _ = await cli("resume", "--all")
    assert (code, out.strip()) == (0, "nothing is paused")
    rig.clock.advance(timedelta(minutes=1))
    await rig.tick()
    assert [m.rcpt_tos for m in rig.smtp.received] == [["eva@example.com"]]


async def test_status_reports_queue_scan_rules_pauses_and_errors(rig: Rig, cli: Cli) -> None:
    code, out, _ = await cli("status")  # no daemon ever ran here: stale
    assert code == 3 and "queue: 0 pending" in out and "last scan: never published" in out

    await rig.customer("ana", last_used="sms", phone="+15005550001")  # Twilio: 21211
    await rig.promise("ana", "order-1", timedelta(hours=-2))
    await rig.customer("eva", last_used="sms")
    # At risk (the carrier reports a delay): later.
    await rig.promise("eva", "order-2", timedelta(hours=4, minutes=30), carrier_status="delayed")
    await rig.tick()
    now = rig.clock.now()
    await rig.store.publish(ScanState(ScanFigures(promises=2, scheduled=1)), now)
    await rig.store.publish(RulesState(ok=False, problems=("rules/x.yaml:3:5: bad",)), now)
    await rig.store.pause("down", "x", "401 from X", now, now + timedelta(minutes=5))
    await cli("pause", "--channel", "whatsapp")

    report = await cli.json("status")
    assert isinstance(report, dict)
    assert report["counts"] == {"sent": 1}
    assert report["scan"]["promises"] == 2 and report["rules"]["ok"] is False
    assert [p["target"] for p in report["paused"]] == ["whatsapp"]
    assert [p["target"] for p in report["down"]] == ["x"]
    assert report["last_errors"][0]["type"] == "failed_channel"
    assert report["last_errors"][0]["channel"] == "sms"

    rig.clock.advance(timedelta(minutes=31))  # eva's at-risk notice: scheduled, not sent
    await rig.scan()
    code, out, _ = await cli("status")
    assert "queue: 1 pending" in out
    assert "rules/x.yaml:3:5: bad" in out and "down: channel x" in out
    assert "paused: channel whatsapp" in out and "failed_channel sms" in out


async def test_simulate_lists_what_would_go_and_changes_nothing(
    rig: Rig, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DEMO", "true")  # every channel prints: all are available
    await rig.customer("ana", last_used="sms")
    await rig.promise("ana", "order-1", timedelta(hours=3), carrier_status="delayed")
    before = await rig.store.queue_stats()

    found = await cli.json("simulate", "--at", "now+2d")
    assert isinstance(found, dict)
    sends = found["sends"]
    assert [(s["message"], s["channel"], s["customer_id"]) for s in sends][:2] == [
        ("delivery_at_risk", "sms", "ana"), ("delivery_late", "sms", "ana")
    ]  # fmt: skip
    assert "rule delivery-late" in sends[1]["reasons"][0]
    code, out, _ = await cli("simulate", "--at", "now+2d")
    assert code == 0 and "why: " in out and "nothing was sent" in out
    assert await rig.store.queue_stats() == before
    assert (await rig.store.list_promises(customer_id="ana"))[0].next_check_at is not None
    assert rig.twilio.forms() == []
    for bad in ("now-1h", "soon"):
        code, _, err = await cli("simulate", "--at", bad)
        assert code == 2 and "'--at'" in err
    assert NotificationStatus.PENDING.value not in before.counts


async def test_an_alert_to_ops_is_listed_shown_and_simulated_without_a_customer(
    rig: Rig, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFIER_DEMO", "true")  # every channel prints: all are available
    monkeypatch.setenv("NOTIFIER_OPS_EMAIL", "ops@acme.example")
    now = rig.clock.now()
    notice = channel_down_notice("sms", "HTTP 401", now, now + timedelta(minutes=5))
    await rig.store.enqueue([Scheduled(notice, now)], now)

    found = await cli.json("simulate", "--at", "now+1h")
    assert isinstance(found, dict)
    assert [(s["customer_id"], s["audience"], s["message"]) for s in found["sends"]] == [
        (None, "ops", "ops_channel_down")
    ]
    await rig.dispatcher.dispatch_until_idle()
    code, out, _ = await cli("notification", "list")
    assert code == 0 and " ops " in out and "ops_channel_down" in out
    (row,) = await cli.json("notification", "list")  # type: ignore[misc]  # a list of one
    assert (row["customer_id"], row["audience"], row["status"]) == (None, "ops", "sent")
    code, out, _ = await cli("notification", "show", str(row["id"]))
    assert code == 0 and "customer -, promise -" in out and "for ops" in out

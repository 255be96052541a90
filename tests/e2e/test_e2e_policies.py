"""What the daemon decides before a send: quiet hours, consolidation, cap, re-check, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, reasons, rows, settled_rows
from tests.e2e.daemon import daytime_zone, notifier, wait_for

pytestmark = pytest.mark.e2e


async def _rows_of(url: str, customer: str) -> list[dict[str, Any]]:
    return [r for r in await rows(url) if r["customer_id"] == customer]


async def _waiting(url: str, customer: str, error: str) -> list[dict[str, Any]]:
    """The customer's rows once every one waits in the outbox, ``error`` naming why."""
    found = await _rows_of(url, customer)
    if found and all(r["status"] == "pending" and error in (r["error"] or "") for r in found):
        return found
    return []


async def test_quiet_hours_hold_the_message_until_the_window_ends(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemon = await make_daemon(sqlite_db).started()
    # 02:xx for this customer: inside the default 21:00-08:00.
    await daemon.customer("c-night", phone="+5491155550401", timezone=daytime_zone(now, hour=2))
    pid = await daemon.promise("c-night", "order-night", now - timedelta(hours=2))

    async def broken() -> bool:
        return bool((await daemon.call("GET", f"/v1/promises/{pid}"))["status"] == "broken")

    await wait_for(broken, "the scan to see the promise broken")
    assert fakes.twilio.requests == []

    await daemon.advance("7h")  # 09:xx local: the window is over
    await wait_for(lambda: fakes.sms_to("+5491155550401"), "the morning SMS")
    (row,) = await settled_rows(sqlite_db, 1)
    assert (row["status"], row["channel"]) == ("sent", "sms")
    assert len(fakes.twilio.messages) == 1
    assert await daemon.stop() == 0


async def test_two_late_promises_of_one_customer_go_as_one_message(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemon = await make_daemon(sqlite_db).started()
    await daemon.customer("c-two", phone="+5491155550501", timezone=daytime_zone(now))
    # Not late yet (the rule waits 1h15m past due): both turn late at the same tick.
    await daemon.promise("c-two", "order-a", now - timedelta(minutes=30))
    await daemon.promise("c-two", "order-b", now - timedelta(minutes=29))
    await daemon.advance("1h")
    await wait_for(lambda: fakes.sms_to("+5491155550501"), "the consolidated SMS")

    async def settled() -> list[dict[str, Any]]:
        found = await _rows_of(sqlite_db, "c-two")
        return found if len(found) == 2 and all(r["status"] == "sent" for r in found) else []

    first, second = await wait_for(settled, "both notifications sent")
    (sms,) = fakes.twilio.messages
    assert "order-a" in sms["body"] and "order-b" in sms["body"]
    assert {first["message"], second["message"]} >= {"several_late"}
    assert first["provider_id"] == second["provider_id"] == sms["sid"]
    assert await daemon.stop() == 0


async def test_the_frequency_cap_makes_the_second_message_wait_a_day(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemon = await make_daemon(sqlite_db, NOTIFIER_FREQUENCY_CAP="1").started()
    await daemon.customer("c-cap", phone="+5491155550601", timezone=daytime_zone(now))
    first = await daemon.promise("c-cap", "order-1", now - timedelta(hours=2), notify_kept=False)
    await wait_for(lambda: fakes.sms_to("+5491155550601"), "the first SMS")
    # Kept (and no thank-you): the first promise has nothing more to say tomorrow.
    await daemon.call("POST", f"/v1/promises/{first}/keep")
    await daemon.promise("c-cap", "order-2", now - timedelta(hours=2))

    async def capped() -> list[dict[str, Any]]:
        found = await _rows_of(sqlite_db, "c-cap")
        waiting = [r for r in found if r["status"] == "pending"]
        return waiting if waiting and waiting[0]["not_before"] > now + timedelta(hours=23) else []

    (capped_row,) = await wait_for(capped, "the second apology to wait for the cap")
    assert "order-2" not in str(capped_row["body"] or "")
    assert len(fakes.twilio.messages) == 1

    later = await daemon.advance("24h")
    await wait_for(lambda: len(fakes.sms_to("+5491155550601")) >= 2, "the second SMS a day later")
    assert "order-2" in fakes.twilio.messages[1]["body"]

    # The second promise's daily repeat is due now too: the cap holds it for another day.
    async def repeat_capped() -> list[dict[str, Any]]:
        found = await _rows_of(sqlite_db, "c-cap")
        waiting = [r for r in found if r["status"] == "pending"]
        return waiting if waiting and waiting[0]["not_before"] > later + timedelta(hours=23) else []

    (repeat,) = await wait_for(repeat_capped, "the repeat to wait for the cap")
    assert repeat["stage"] == "repeat"
    assert (await reasons(sqlite_db, repeat["id"]))[-1].startswith("deferred: frequency cap: 1")
    assert len(fakes.twilio.messages) == 2
    assert await daemon.stop() == 0


async def test_a_paused_channel_holds_messages_and_resume_sends_those_still_true(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    daemon = make_daemon(sqlite_db)
    paused = notifier("pause", "--channel", "sms", env=daemon.env, cwd=daemon.home)
    assert paused.returncode == 0, paused.stderr
    await daemon.started()
    for cid, phone in (("c-paused", "+5491155550701"), ("c-kept", "+5491155550702")):
        await daemon.customer(cid, phone=phone, timezone=daytime_zone(now))
    await daemon.promise("c-paused", "order-p", now - timedelta(hours=2))
    # notify_kept: false keeps the promise-kept rule out of it: only the re-check acts.
    kept = await daemon.promise("c-kept", "order-k", now - timedelta(hours=2), notify_kept=False)
    for cid in ("c-paused", "c-kept"):
        await wait_for(partial(_waiting, sqlite_db, cid, "paused"), f"{cid}'s SMS held")
    await daemon.call("POST", f"/v1/promises/{kept}/keep")  # after it was scheduled
    assert fakes.twilio.requests == [] and fakes.smtp.received == []

    resumed = notifier("resume", "--channel", "sms", env=daemon.env, cwd=daemon.home)
    assert resumed.returncode == 0, resumed.stderr
    await wait_for(lambda: fakes.sms_to("+5491155550701"), "the held SMS after resume")

    async def settled() -> dict[str, tuple[str, str | None]]:
        found = {r["customer_id"]: (r["status"], r["channel"]) for r in await rows(sqlite_db)}
        busy = {"pending", "sending"} & {s for s, _ in found.values()}
        return {} if busy else found

    found = await wait_for(settled, "both notifications settled")
    assert found == {"c-paused": ("sent", "sms"), "c-kept": ("cancelled", None)}
    assert [m["to"] for m in fakes.twilio.messages] == ["+5491155550701"]
    assert await daemon.stop() == 0

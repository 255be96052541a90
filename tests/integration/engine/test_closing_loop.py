"""Closing the loop with the shipped rules on a real store: thanks only after an apology."""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.models import Source
from tests.integration.poison import notification_rows
from tests.integration.rig import Rig


async def _messages(rig: Rig, cid: str) -> list[tuple[str, str]]:
    return [(r["message"], r["status"]) for r in await notification_rows(rig.store, cid)]


async def test_a_delivery_kept_on_time_gets_no_thanks(rig: Rig) -> None:
    await rig.customer("c-1")
    pid = await rig.promise("c-1", "order-1", timedelta(hours=6))
    await rig.tick()
    await rig.ledger.keep(pid, Source.API)
    rig.clock.advance(timedelta(minutes=10))
    await rig.tick()
    assert await _messages(rig, "c-1") == []
    assert rig.twilio.forms() == []


async def test_a_delivery_kept_after_its_apology_gets_the_thanks(rig: Rig) -> None:
    await rig.customer("c-2")
    pid = await rig.promise("c-2", "order-2", timedelta(hours=-2))
    await rig.tick()
    assert await _messages(rig, "c-2") == [("delivery_late", "sent")]
    await rig.ledger.keep(pid, Source.API)
    rig.clock.advance(timedelta(minutes=4))
    await rig.tick()
    assert len(rig.twilio.forms()) == 1  # held 5 minutes: a late "delivered" is often wrong
    rig.clock.advance(timedelta(minutes=1))
    await rig.tick()
    assert await _messages(rig, "c-2") == [("delivery_late", "sent"), ("promise_kept", "sent")]
    assert len(rig.twilio.forms()) == 2


async def test_kept_before_the_apology_went_out_gets_neither(rig: Rig) -> None:
    await rig.customer("c-3")
    pid = await rig.promise("c-3", "order-3", timedelta(hours=-2))
    await rig.scan()  # the apology is scheduled ...
    await rig.ledger.keep(pid, Source.API)  # ... and made moot before it goes
    await rig.dispatcher.dispatch_until_idle()
    rig.clock.advance(timedelta(minutes=10))
    await rig.tick()
    assert await _messages(rig, "c-3") == [("delivery_late", "cancelled")]
    assert rig.twilio.forms() == []

"""A granted send leaves within its slot's fence or not at all; one that never left is not
an attempt.

The cluster's bucket is pushed ahead first (a reservation as another replica's would be),
so the one send's slot lies seconds away, at an instant the test knows. Just before it,
the test stalls the whole event loop (``time.sleep`` in a callback: the process
descheduled), so the send wakes past its fence. Both tests run the real dispatcher,
store and local Twilio server.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.store.convert import notification_events, notifications
from tests.e2e.daemon import wait_for
from tests.integration.rig import Rig

AHEAD = 2.0  # seconds: how far the bucket is pushed ahead of the send
STALL = 0.5  # seconds the process is stalled across the slot: far past the 20 ms fence


async def _row(rig: Rig) -> dict[str, Any]:
    async with rig.store.reading() as conn:
        return dict((await conn.execute(select(notifications))).mappings().one())


async def _history(rig: Rig) -> list[tuple[str, str]]:
    async with rig.store.reading() as conn:
        query = select(notification_events.c.type, notification_events.c.reason)
        return [tuple(r) for r in await conn.execute(query.order_by(notification_events.c.id))]


async def _one_send_behind_the_bucket(rig: Rig, **settings: Any) -> Dispatcher:
    """One SMS due; the cluster's SMS bucket busy for ``AHEAD`` seconds, the loop stalled
    for ``STALL`` seconds across the send's slot."""
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.scan()
    s = rig.settings.model_copy(update={"rate_sms": 10.0, **settings})
    pushed = await rig.store.reserve_rate("sms", "default", AHEAD * 10.0, 10.0)
    assert pushed.slot is not None
    slot = pushed.slot + AHEAD  # the bucket's next free instant: the send's slot
    loop = asyncio.get_running_loop()
    # 2 ms before the slot: the send is writing its attempt or sleeping until its slot.
    loop.call_at(loop.time() + slot - 0.002 - time.time(), time.sleep, STALL)
    d = rig.dispatcher
    return Dispatcher(rig.store, d.channels, d.composer, rig.clock, s.dispatch, s.scan)


async def _attempted(rig: Rig) -> bool:
    return (await _row(rig))["attempted_at"] is not None


async def test_a_send_attempted_but_not_left_at_shutdown_is_given_back(rig: Rig) -> None:
    """Past its fence it asks for a new slot, which is 10 s away (the bucket pushed again):
    stopped then, its request never left, and its attempt is given back."""
    dispatcher = await _one_send_behind_the_bucket(rig, shutdown_grace=timedelta(seconds=1))
    stopping = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stopping))
    pushed = await rig.store.rate_bucket("sms", "default")
    assert pushed is not None

    async def reserved() -> bool:  # the send has its slot: the bucket moved past it
        now = await rig.store.rate_bucket("sms", "default")
        return now is not None and now.tat > pushed.tat

    await wait_for(reserved, "the send's slot reserved", AHEAD - 0.5, interval=0.02)
    await rig.store.reserve_rate("sms", "default", 100.0, 10.0)  # then the bucket is busy
    await wait_for(lambda: _attempted(rig), "the attempt written", AHEAD + 10)
    await wait_for(lambda: dispatcher.sender.lost_slots == 1, "the slot given up", 10)
    stopping.set()
    await running

    assert rig.twilio.forms() == [], "the request left outside its slot"
    row = await _row(rig)
    assert (row["status"], row["attempts"], row["attempted_at"]) == ("pending", 0, None)
    assert row["lease_owner"] is None
    history = await _history(rig)
    assert [t for t, _ in history][-2:] == ["attempt", "released"]
    assert "before the request left; not counted as an attempt" in history[-1][1]


async def test_a_send_woken_past_its_fence_takes_a_new_slot_as_the_same_attempt(
    rig: Rig,
) -> None:
    dispatcher = await _one_send_behind_the_bucket(rig)
    await dispatcher.dispatch_until_idle()

    assert dispatcher.sender.lost_slots == 1
    assert len(rig.twilio.forms()) == 1
    row = await _row(rig)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert [t for t, _ in await _history(rig)].count("attempt") == 1

"""A granted send leaves within its slot's fence or not at all; one that never left is not
an attempt.

The cluster's bucket is pushed ahead first (a reservation as another replica's would be),
so the one send's slot lies seconds away: its attempt is written at once, its request
waits. Both tests run the real dispatcher, store and local Twilio server.
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

AHEAD = 3.0  # seconds: how far the bucket is pushed ahead of the send


async def _row(rig: Rig) -> dict[str, Any]:
    async with rig.store.reading() as conn:
        return dict((await conn.execute(select(notifications))).mappings().one())


async def _history(rig: Rig) -> list[tuple[str, str]]:
    async with rig.store.reading() as conn:
        query = select(notification_events.c.type, notification_events.c.reason)
        return [tuple(r) for r in await conn.execute(query.order_by(notification_events.c.id))]


async def _one_send_behind_the_bucket(rig: Rig, **settings: Any) -> Dispatcher:
    """One SMS due; the cluster's SMS bucket busy for ``AHEAD`` seconds from now."""
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.scan()
    s = rig.settings.model_copy(update={"rate_sms": 10.0, **settings})
    await rig.store.reserve_rate("sms", "default", AHEAD * 10.0, 10.0)
    d = rig.dispatcher
    return Dispatcher(rig.store, d.channels, d.composer, rig.clock, s.dispatch, s.scan)


async def _attempted(rig: Rig) -> bool:
    return (await _row(rig))["attempted_at"] is not None


async def test_a_send_whose_slot_has_not_come_when_the_grace_ends_is_given_back(
    rig: Rig,
) -> None:
    dispatcher = await _one_send_behind_the_bucket(rig, shutdown_grace=timedelta(seconds=1))
    stopping = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stopping))
    await wait_for(lambda: _attempted(rig), "the attempt written, its slot still ahead")
    stopping.set()
    await running

    assert rig.twilio.forms() == [], "the request left before its slot"
    row = await _row(rig)
    assert (row["status"], row["attempts"], row["attempted_at"]) == ("pending", 0, None)
    assert row["lease_owner"] is None
    types = [t for t, _ in await _history(rig)]
    assert types[-2:] == ["attempt", "released"]
    assert "before the request left; not counted as an attempt" in (await _history(rig))[-1][1]

    await rig.dispatcher.dispatch_until_idle()  # the next run sends it, its first attempt
    row = await _row(rig)
    assert (row["status"], row["attempts"]) == ("sent", 1) and len(rig.twilio.forms()) == 1


async def test_a_send_woken_past_its_fence_takes_a_new_slot_as_the_same_attempt(
    rig: Rig,
) -> None:
    dispatcher = await _one_send_behind_the_bucket(rig)
    ahead = time.time() + AHEAD
    sending = asyncio.create_task(dispatcher.dispatch_until_idle())
    await wait_for(lambda: _attempted(rig), "the attempt written, its slot still ahead")
    assert time.time() < ahead - 0.5, "too slow to stall the process before the slot"
    time.sleep(AHEAD + 0.5)  # noqa: ASYNC251  # the whole process descheduled past the slot
    await sending

    assert dispatcher.sender.lost_slots == 1
    assert len(rig.twilio.forms()) == 1
    row = await _row(rig)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert [t for t, _ in await _history(rig)].count("attempt") == 1

"""A captured, genuinely signed Twilio webhook posted again changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, func, select

from notifier.store.convert import interactions, notification_events
from notifier.store.receipts import webhook_receipts
from notifier.store.store import Store
from tests.integration.rig import Rig
from tests.integration.test_webhooks_inbound import INBOUND, sms
from tests.integration.test_webhooks_status import Flow, _late_sms, flow
from tests.webhooks_fixtures import Hooks, hooks

__all__ = ["flow", "hooks"]  # the fixtures, imported for pytest


async def _opted_out(hooks: Hooks) -> frozenset[str]:
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None
    return customer.opted_out


async def _count(store: Store, table: Table) -> int:
    async with store.reading() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_replayed_stop_or_start_does_not_flip_consent_again(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    stop = {**sms("STOP"), "MessageSid": "SM" + "1" * 32}
    start = {**sms("START"), "MessageSid": "SM" + "2" * 32}

    assert (await hooks.twilio(INBOUND, stop)).status_code == 200
    assert await _opted_out(hooks) == {"sms"}
    replay = await hooks.twilio(INBOUND, stop)
    assert replay.status_code == 200 and replay.headers["content-type"].startswith("text/xml")
    assert await _opted_out(hooks) == {"sms"}

    hooks.clock.advance(timedelta(minutes=5))
    assert (await hooks.twilio(INBOUND, start)).status_code == 200
    assert await _opted_out(hooks) == frozenset()

    # An attacker replays the captured STOP, then the START again: the last distinct message
    # the customer sent was START, and so it stays.
    hooks.clock.advance(timedelta(minutes=5))
    for captured in (stop, start, stop):
        answer = await hooks.twilio(INBOUND, captured)
        assert answer.status_code == 200
        assert await _opted_out(hooks) == frozenset()

    # Each distinct message is one interaction; the replays added none.
    assert await _count(hooks.store, interactions) == 2
    assert await _count(hooks.store, webhook_receipts) == 2


async def test_a_replayed_status_callback_changes_nothing(flow: Flow) -> None:
    rig: Rig = flow.rig
    sid = await _late_sms(flow)
    assert (await flow.callback(sid, "delivered")).status_code == 200
    row = await flow.row(sid)
    assert row["status"] == "delivered"
    events = await _count(rig.store, notification_events)

    rig.clock.advance(timedelta(minutes=10))
    replay = await flow.callback(sid, "delivered")
    assert replay.status_code == 200
    again = await flow.row(sid)
    assert again == row  # delivered_at, updated_at and status are as the first one left them
    assert await _count(rig.store, notification_events) == events


async def test_the_next_status_of_the_same_message_is_still_applied(flow: Flow) -> None:
    # The key is MessageSid + MessageStatus: "sent" then "undelivered" are two reports.
    sid = await _late_sms(flow)
    await flow.callback(sid, "sent")
    await flow.callback(sid, "sent")
    answer = await flow.callback(sid, "undelivered", "30003")
    assert answer.status_code == 200
    row = await flow.row(sid)
    assert row["status"] == "pending" and row["failed_channels"] == ["sms"]
    history = await flow.history(sid)
    assert [e.type for e in history].count("provider_status") == 1
    assert [e.type for e in history].count("undelivered") == 1

"""Twilio status callbacks on real notifications: scanned, dispatched, sent to the Twilio fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from notifier.domain.models import NotificationStatus
from notifier.domain.reports import HistoryEntry
from notifier.store.convert import notifications
from tests.integration.rig import Rig
from tests.webhooks_fixtures import serve, signature, webhook_settings

STATUS = "/webhooks/twilio/status"


@dataclass
class Flow:
    rig: Rig
    client: httpx.AsyncClient
    wakes: list[int]

    async def callback(self, sid: str, state: str, code: str | None = None) -> httpx.Response:
        """Post the callback Twilio sends for message ``sid``, signed."""
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": state, "SmsStatus": state,
                  "AccountSid": "AC" + "0" * 31 + "1", "To": "+5491155550101",
                  "From": "+15017122661", "ApiVersion": "2010-04-01"}  # fmt: skip
        if code is not None:
            params["ErrorCode"] = code
        headers = {"X-Twilio-Signature": signature(STATUS, params)}
        return await self.client.post(STATUS, data=params, headers=headers)

    async def row(self, sid: str) -> dict[str, Any]:
        """Return the notification row Twilio knows as ``sid``."""
        async with self.rig.store.reading() as conn:
            query = select(notifications).where(notifications.c.provider_id == sid)
            found = (await conn.execute(query)).mappings().one()
        return dict(found)

    async def history(self, sid: str) -> Sequence[HistoryEntry]:
        found = await self.rig.store.notification((await self.row(sid))["id"])
        assert found is not None
        return found.history


@pytest.fixture
async def flow(rig: Rig) -> AsyncIterator[Flow]:
    settings = webhook_settings(rig.smtp.port)
    wakes: list[int] = []
    client, _ = await serve(settings, rig.store, rig.clock, wakes)
    async with client:
        yield Flow(rig, client, wakes)


async def _late_sms(flow: Flow, cid: str = "c-1", **values: str | None) -> str:
    """Break a promise and let the real scan and dispatcher send its SMS; return the SID."""
    await flow.rig.customer(cid, last_used="sms", **values)
    await flow.rig.promise(cid, f"order-{cid}", timedelta(hours=-2))
    await flow.rig.tick()
    (message,) = flow.rig.twilio.messages
    assert flow.rig.smtp.received == []
    return str(message["sid"])


async def test_undelivered_moves_the_notification_to_its_next_channel(flow: Flow) -> None:
    sid = await _late_sms(flow)
    flow.rig.clock.advance(timedelta(minutes=3))

    answer = await flow.callback(sid, "undelivered", "30003")
    assert answer.status_code == 200
    row = await flow.row(sid)
    assert row["status"] == NotificationStatus.PENDING.value
    assert row["failed_channels"] == ["sms"] and row["error_code"] == "30003"
    assert row["not_before"] == flow.rig.clock.now()
    assert flow.wakes == [1]

    await flow.rig.dispatcher.dispatch_until_idle()
    assert [m.rcpt_tos for m in flow.rig.smtp.received] == [["c-1@example.com"]]
    assert len(flow.rig.twilio.messages) == 1  # the SMS was not tried again
    found = await flow.rig.store.notification(row["id"])
    assert found is not None
    record, history = found.record, found.history
    notification = record.notification
    assert notification.status is NotificationStatus.SENT and notification.channel == "email"
    undelivered = [e for e in history if e.type == "undelivered"]
    assert len(undelivered) == 1
    assert undelivered[0].channel == "sms"
    assert undelivered[0].detail["code"] == "30003"
    assert "30003: handset unreachable" in str(undelivered[0].reason)

    # Twilio retries a callback it thinks was lost: the notification does not move again.
    retried = await flow.callback(sid, "undelivered", "30003")
    assert retried.status_code == 200
    await flow.rig.dispatcher.dispatch_until_idle()
    assert len(flow.rig.smtp.received) == 1
    assert flow.wakes == [1]


async def test_failed_with_no_channel_left_ends_failed(flow: Flow) -> None:
    sid = await _late_sms(flow, email=None)
    await flow.callback(sid, "failed", "30008")
    await flow.rig.dispatcher.dispatch_until_idle()
    row = await flow.row(sid)
    assert row["status"] == NotificationStatus.FAILED.value
    assert flow.rig.smtp.received == []


async def test_delivered_is_final_and_records_when(flow: Flow) -> None:
    sid = await _late_sms(flow)
    await flow.callback(sid, "sent")
    flow.rig.clock.advance(timedelta(seconds=40))
    await flow.callback(sid, "delivered")
    row = await flow.row(sid)
    assert row["status"] == NotificationStatus.DELIVERED.value
    assert row["delivered_at"] == flow.rig.clock.now()

    # A late "undelivered" for a delivered message changes nothing but the history.
    await flow.callback(sid, "undelivered", "30003")
    await flow.rig.dispatcher.dispatch_until_idle()
    assert (await flow.row(sid))["status"] == NotificationStatus.DELIVERED.value
    assert flow.rig.smtp.received == []
    types = [e.type for e in await flow.history(sid)]
    assert types[-3:] == ["provider_status", "delivered", "provider_status"]
    assert flow.wakes == []


async def test_a_hard_failure_marks_the_address_and_later_messages_skip_it(flow: Flow) -> None:
    sid = await _late_sms(flow)
    await flow.callback(sid, "failed", "21614")
    customer = await flow.rig.store.get_customer("c-1")
    assert customer is not None and customer.undeliverable == {"sms": "+5491155550101"}
    entries = await flow.rig.store.timeline("c-1")
    assert any(
        e.type == "notification.failed" and "marked undeliverable on sms" in e.summary
        for e in entries
    )
    await flow.rig.dispatcher.dispatch_until_idle()
    assert len(flow.rig.smtp.received) == 1

    # The next broken promise goes straight to email; SMS is skipped, and says why.
    await flow.rig.promise("c-1", "order-2", timedelta(hours=-1))
    flow.rig.clock.advance(timedelta(hours=2))
    await flow.rig.tick()
    assert len(flow.rig.twilio.messages) == 1
    assert [m.rcpt_tos for m in flow.rig.smtp.received] == [["c-1@example.com"]] * 2


async def test_a_stop_reported_in_a_callback_records_the_opt_out(flow: Flow) -> None:
    sid = await _late_sms(flow)
    flow.rig.clock.advance(timedelta(minutes=1))
    answer = await flow.callback(sid, "undelivered", "21610")
    assert answer.status_code == 200

    customer = await flow.rig.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"sms"}
    assert customer.undeliverable == {}  # the number works; the customer said no
    row = await flow.row(sid)
    assert row["status"] == NotificationStatus.PENDING.value
    assert row["failed_channels"] == ["sms"] and row["error_code"] == "21610"
    assert flow.wakes == [1]
    (why,) = [e for e in await flow.history(sid) if e.type == "undelivered"]
    assert "21610: the recipient unsubscribed (STOP)" in str(why.reason)
    assert "the customer is opted out of sms" in str(why.reason)

    await flow.rig.dispatcher.dispatch_until_idle()
    assert [m.rcpt_tos for m in flow.rig.smtp.received] == [["c-1@example.com"]]
    assert len(flow.rig.twilio.messages) == 1

    # The next broken promise skips SMS for consent, as after an inbound STOP.
    await flow.rig.promise("c-1", "order-2", timedelta(hours=-1))
    flow.rig.clock.advance(timedelta(hours=2))
    await flow.rig.tick()
    assert len(flow.rig.twilio.messages) == 1
    assert len(flow.rig.smtp.received) == 2


async def test_a_soft_failure_leaves_the_address_alone(flow: Flow) -> None:
    sid = await _late_sms(flow)
    await flow.callback(sid, "undelivered", "30005")
    customer = await flow.rig.store.get_customer("c-1")
    assert customer is not None and customer.undeliverable == {}


async def test_an_unknown_message_sid_is_answered_200(flow: Flow) -> None:
    answer = await flow.callback("SM" + "f" * 32, "delivered")
    assert answer.status_code == 200
    assert flow.wakes == []


async def test_a_tampered_callback_is_refused(flow: Flow) -> None:
    sid = await _late_sms(flow)
    params = {"MessageSid": sid, "MessageStatus": "delivered"}
    sig = signature(STATUS, params)
    forged = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    answer = await flow.client.post(STATUS, data=forged, headers={"X-Twilio-Signature": sig})
    assert answer.status_code == 403
    assert (await flow.row(sid))["status"] == NotificationStatus.SENT.value


async def test_a_callback_without_sid_or_status_is_a_bad_request(flow: Flow) -> None:
    params = {"AccountSid": "AC" + "0" * 31 + "1"}
    answer = await flow.client.post(
        STATUS, data=params, headers={"X-Twilio-Signature": signature(STATUS, params)}
    )
    assert answer.status_code == 400

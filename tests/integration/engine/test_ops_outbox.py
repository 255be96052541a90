"""Ops alerts and forwarded replies are outbox rows like any other (incidents: test_crisis_flow).

They have a history, go out through the dispatcher (by email for ops), are retried when
the provider fails for a moment, and land once per dedupe key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from notifier.domain.models import NotificationStatus
from notifier.domain.ops_notices import channel_down_notice, inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.domain.reports import NotificationRecord
from tests.integration.rig import Rig

OPS = "ops@acme.example"


async def _ops_rows(rig: Rig) -> list[NotificationRecord]:
    return [r for r in await rig.store.list_notifications() if r.notification.audience == "ops"]


async def _history(rig: Rig, record: NotificationRecord) -> list[str]:
    found = await rig.store.notification(record.notification.id)
    assert found is not None
    return [e.type for e in found.history]


def _plain(rig: Rig, to: str) -> str:
    email = next(r.parsed() for r in rig.smtp.received if r.rcpt_tos == [to])
    body = email.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


async def test_a_channel_down_alert_is_an_outbox_row_sent_by_the_dispatcher(rig: Rig) -> None:
    rig.twilio.auth_token = "rotated-by-someone"  # 401, 20003: the sms channel is down
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))

    await rig.tick()

    (alert,) = await _ops_rows(rig)
    n = alert.notification
    assert (n.customer_id, n.message, n.channel, n.status) == (
        None, "ops_channel_down", "email", NotificationStatus.SENT,
    )  # fmt: skip
    assert n.dedupe_key.startswith("ops:channel-down:sms:")
    assert n.address == OPS and n.subject == "notifier: the sms channel is down"
    assert await _history(rig, alert) == ["scheduled", "attempt", "sent"]
    assert "paused for everyone" in _plain(rig, OPS)
    # Not the customer's message: it is not theirs to list, nor counted against their cap.
    theirs = await rig.store.list_notifications(customer_id="c-1")
    assert [r.notification.message for r in theirs] == ["delivery_late"]
    sent = await rig.store.sent_since(["c-1"], rig.clock.now() - timedelta(days=1))
    assert {k: len(v) for k, v in sent.items()} == {"c-1": 1}


async def test_an_alert_is_retried_when_smtp_fails_for_a_moment(rig: Rig) -> None:
    rig.smtp.recipients[OPS] = "451 4.7.1 Greylisted, try again later"
    now = rig.clock.now()
    notice = channel_down_notice("whatsapp", "HTTP 401", now, now + timedelta(minutes=5))
    assert await rig.store.enqueue([Scheduled(notice, now)], now) == 1

    await rig.dispatcher.dispatch_until_idle()
    (alert,) = await _ops_rows(rig)
    assert alert.notification.status is NotificationStatus.PENDING
    assert rig.smtp.received == []

    del rig.smtp.recipients[OPS]
    rig.clock.advance(timedelta(minutes=10))
    await rig.dispatcher.dispatch_until_idle()

    (alert,) = await _ops_rows(rig)
    assert alert.notification.status is NotificationStatus.SENT
    assert await _history(rig, alert) == ["scheduled", "attempt", "retry", "attempt", "sent"]
    assert [m.rcpt_tos for m in rig.smtp.received] == [[OPS]]


async def test_the_same_key_twice_is_one_row(rig: Rig) -> None:
    await rig.customer("c-1")
    now = rig.clock.now()
    (customer,) = (await rig.store.get_customers(["c-1"])).values()
    reply = inbound_reply_notice("sms", "+5491155550101", "hola", [customer], "SM1", now)
    down = channel_down_notice("sms", "HTTP 401", now, now + timedelta(minutes=5))
    assert await rig.store.enqueue([Scheduled(reply, now), Scheduled(down, now)], now) == 2
    later = now + timedelta(seconds=30)  # a replayed webhook, the same alert written again
    again = inbound_reply_notice("sms", "+5491155550101", "hola", [customer], "SM1", later)
    assert await rig.store.enqueue([Scheduled(again, later), Scheduled(down, now)], later) == 0

    await rig.dispatcher.dispatch_until_idle()

    assert sorted(r.notification.dedupe_key for r in await _ops_rows(rig)) == [
        "ops:channel-down:sms:" + now.strftime("%Y%m%dT%H%M%S"), "ops:inbound:SM1",
    ]  # fmt: skip
    assert [m.rcpt_tos for m in rig.smtp.received] == [[OPS], [OPS]]


async def test_a_reply_from_an_unknown_number_still_reaches_ops(rig: Rig) -> None:
    now = rig.clock.now()
    notice = inbound_reply_notice("whatsapp", "+5491155559999", "hola\nsoy nuevo", [], "SM9", now)
    await rig.store.enqueue([Scheduled(notice, now)], now)

    await rig.dispatcher.dispatch_until_idle()

    (reply,) = await _ops_rows(rig)
    assert reply.notification.status is NotificationStatus.SENT
    assert reply.notification.subject == "Reply on whatsapp from +5491155559999"
    assert await _history(rig, reply) == ["scheduled", "attempt", "sent"]
    text = _plain(rig, OPS)
    assert "> hola\n> soy nuevo" in text and "No customer has this number" in text


async def test_a_reply_shows_each_matching_customers_timeline(rig: Rig) -> None:
    await rig.customer("c-1", last_used="whatsapp")
    now = rig.clock.now()
    (customer,) = (await rig.store.get_customers(["c-1"])).values()
    notice = inbound_reply_notice("whatsapp", "+5491155550101", "¿y?", [customer], "SM2", now)
    await rig.store.enqueue([Scheduled(notice, now)], now)

    await rig.dispatcher.dispatch_until_idle()

    text = _plain(rig, OPS)
    assert "Customer c-1 (Ana Pérez), timeline, newest first:" in text
    assert "interaction  inbound whatsapp" in text


async def test_an_ops_row_whose_own_values_are_spoilt_fails_alone(rig: Rig) -> None:
    # A hand-edited payload: its instant is no time at all. That row fails render_error;
    # the claim is not released over and over, and the other alert goes out.
    now = rig.clock.now()
    good = channel_down_notice("whatsapp", "HTTP 401", now, now + timedelta(minutes=5))
    spoilt = channel_down_notice("x", "HTTP 401", now, now + timedelta(minutes=5))
    spoilt = replace(spoilt, data={**spoilt.data, "until": "not a time"})
    assert await rig.store.enqueue([Scheduled(good, now), Scheduled(spoilt, now)], now) == 2

    await rig.dispatcher.dispatch_until_idle()

    rows = {r.notification.dedupe_key: r for r in await _ops_rows(rig)}
    assert rows[good.dedupe_key].notification.status is NotificationStatus.SENT
    bad = rows[spoilt.dedupe_key]
    assert (bad.notification.status, bad.error_code) == (NotificationStatus.FAILED, "render_error")
    assert "not a time" in (bad.error or "")
    assert "paused for everyone" in _plain(rig, OPS)

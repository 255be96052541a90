"""Ops alerts, forwarded replies and incident updates are outbox rows like any other.

They have a history, go out through the dispatcher (by email for ops), are retried when
the provider fails for a moment, and land once per dedupe key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import insert
from structlog.testing import capture_logs

from notifier.channels.registry import build_channels
from notifier.domain.models import CustomerId, NotificationStatus
from notifier.domain.notices import incident_update_notice
from notifier.domain.ops_notices import channel_down_notice, inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.domain.reports import NotificationRecord
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.store.tables import IncidentRow
from notifier.templates import Company, Renderer
from tests.fakes.smtp_server import SmtpFake
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


async def test_an_incident_update_for_a_customer_goes_out_like_any_notice(
    rig: Rig, tmp_path: Path
) -> None:
    # Incidents come later: their update message is a template like any other.
    folder = tmp_path / "templates" / "incident_update"
    folder.mkdir(parents=True)
    (folder / "sms.es.j2").write_text("Hola {{ customer.first_name }}: hay demoras en tu zona.")
    renderer = Renderer(tmp_path / "templates", default_locale="es")
    composer = Composer(
        renderer,
        Company.from_settings(rig.settings.messages),
        rig.settings.messages,
        rig.settings.links,
    )
    dispatcher = Dispatcher(
        rig.store,
        rig.dispatcher.channels,
        composer,
        rig.clock,
        rig.settings.dispatch,
        rig.settings.scan,
    )
    await rig.customer("c-1", last_used="sms")
    now = rig.clock.now()
    async with rig.store.transaction() as conn:
        await conn.execute(
            insert(IncidentRow.__table__),  # type: ignore[attr-defined]  # SQLModel's table
            [{"id": 7, "title": "Demoras en AMBA", "status": "open", "selector": {},
              "created_at": now, "updated_at": now}],
        )  # fmt: skip
    notice = incident_update_notice(7, CustomerId("c-1"), 2, "incident_update", now)
    assert notice.dedupe_key == "incident:7:customer:c-1:update:2"
    assert await dispatcher.store.enqueue([Scheduled(notice, now)], now) == 1

    await dispatcher.dispatch_until_idle()

    (row,) = await rig.store.list_notifications(customer_id="c-1")
    n = row.notification
    assert (n.promise_id, n.status, n.channel, n.audience) == (
        None, NotificationStatus.SENT, "sms", "customer",
    )  # fmt: skip
    assert n.body == "Hola Ana: hay demoras en tu zona."
    assert [m["body"] for m in rig.twilio.messages] == ["Hola Ana: hay demoras en tu zona."]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_when_email_itself_is_down_no_alert_is_queued(rig: Rig) -> None:
    # The alert would wait for the very channel it is about: it is logged instead.
    guarded = SmtpFake(username="notifier", password="s3cret")
    guarded.start()
    settings = rig.settings.model_copy(
        update={"smtp_port": guarded.port, "smtp_username": "notifier",
                "smtp_password": SecretStr("wrong")}
    )  # fmt: skip
    channels = build_channels(settings.providers, demo=False)
    dispatcher = Dispatcher(
        rig.store, channels, rig.dispatcher.composer, rig.clock, settings.dispatch, settings.scan
    )
    try:
        await rig.customer("c-1", last_used="email")
        await rig.promise("c-1", "order-1", timedelta(hours=-2))
        await rig.scan()
        with capture_logs() as logs:
            await dispatcher.dispatch_until_idle()
    finally:
        await channels.aclose()
        guarded.stop()

    pauses = await rig.store.pauses(rig.clock.now())
    assert [(p.kind, p.target) for p in pauses] == [("down", "email")]
    assert await _ops_rows(rig) == []
    assert "channel.down_alert_skipped" in {e["event"] for e in logs}


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

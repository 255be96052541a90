"""Claims never overlap; rows a dead process left ``sending`` are resolved, not blindly resent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from notifier.domain.models import NotificationStatus
from notifier.domain.outbox import Change, Event
from notifier.engine.delivery.recovery import recover
from notifier.store.convert import notification_events, notifications
from tests.integration.rig import Rig

LEASE = timedelta(seconds=60)


async def _pending(rig: Rig, count: int, channel: str = "sms") -> None:
    for i in range(count):
        await rig.customer(f"c-{i}", last_used=channel)  # type: ignore[arg-type]
        await rig.promise(f"c-{i}", f"o-{i}", timedelta(hours=-2))
    await rig.scan()


async def test_concurrent_claims_are_disjoint(rig: Rig) -> None:
    await _pending(rig, 12)
    now = rig.clock.now()
    first, second = await asyncio.gather(
        rig.store.claim(now, "a", LEASE, 8), rig.store.claim(now, "b", LEASE, 8)
    )
    ids_a, ids_b = {n.id for n in first}, {n.id for n in second}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 12


async def _crash_mid_send(rig: Rig, channel: str) -> int:
    """Claim one row as a process that then dies right after recording its attempt."""
    (n,) = await rig.store.claim(rig.clock.now(), "dead", timedelta(seconds=1), 1)
    attempt = Change(
        n.id, Event("attempt", "attempt 1", channel),  # type: ignore[arg-type]
        channel=channel, address="+5491155550101" if channel != "email" else "c-0@example.com",  # type: ignore[arg-type]
        body="Acme: perdón, tu pedido o-0 viene con demora.", attempted_at=rig.clock.now(),
        count_attempt=True,
    )  # fmt: skip
    await rig.store.apply_changes([attempt], rig.clock.now())
    rig.clock.advance(timedelta(seconds=5))  # its lease runs out
    return int(n.id)


async def _status(rig: Rig, notification_id: int) -> NotificationStatus:
    found = await rig.store.notification(notification_id)
    assert found is not None
    return found.record.notification.status


async def test_sms_found_at_twilio_is_marked_sent_not_resent(rig: Rig) -> None:
    await _pending(rig, 1)
    nid = await _crash_mid_send(rig, "sms")
    # The dead process's request did reach Twilio before it died.
    sms = rig.dispatcher.channels.get("sms")
    assert sms is not None
    from notifier.channels.base import OutboundMessage

    await sms.send(OutboundMessage(dedupe_key="k", channel="sms", to="+5491155550101",
                                   text="Acme: perdón, tu pedido o-0 viene con demora.",
                                   message_name="delivery_late", locale="es"))  # fmt: skip
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )
    assert (report.found, report.resent) == (1, 0)
    assert await _status(rig, nid) is NotificationStatus.SENT
    assert len(rig.twilio.forms()) == 1


async def test_sms_twilio_never_got_is_resent(rig: Rig) -> None:
    await _pending(rig, 1)
    nid = await _crash_mid_send(rig, "sms")
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )
    assert (report.found, report.resent) == (0, 1)
    assert await _status(rig, nid) is NotificationStatus.PENDING
    await rig.dispatcher.dispatch_until_idle()
    assert len(rig.twilio.forms()) == 1
    assert await _status(rig, nid) is NotificationStatus.SENT


async def test_x_without_lookup_ends_unknown(rig: Rig) -> None:
    await _pending(rig, 1)
    nid = await _crash_mid_send(rig, "x")
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )
    assert report.unknown == 1
    assert await _status(rig, nid) is NotificationStatus.UNKNOWN


async def test_a_live_lease_is_left_alone(rig: Rig) -> None:
    await _pending(rig, 1)
    await rig.store.claim(rig.clock.now(), "alive", LEASE, 1)
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )
    assert report == type(report)()


async def _row(rig: Rig, notification_id: int) -> tuple[str, str | None, int]:
    """The row's status, lease owner and how many history lines say ``sent``."""
    async with rig.store.reading() as conn:
        status, owner = (
            await conn.execute(
                select(notifications.c.status, notifications.c.lease_owner).where(
                    notifications.c.id == notification_id
                )
            )
        ).one()
        sent = await conn.scalar(
            select(func.count())
            .select_from(notification_events)
            .where(notification_events.c.notification_id == notification_id,
                   notification_events.c.type == "sent")
        )  # fmt: skip
    return str(status), owner, int(sent or 0)


async def test_a_write_after_the_lease_is_lost_changes_nothing(rig: Rig) -> None:
    await _pending(rig, 1)
    (n,) = await rig.store.claim(rig.clock.now(), "a", timedelta(seconds=1), 1)
    rig.clock.advance(timedelta(seconds=5))  # "a" stalls past its lease; "b" adopts the row
    assert await rig.store.adopt([n.id], rig.clock.now(), "b", LEASE) == [n.id]
    outcome = Change(
        n.id, Event("sent", "accepted", "sms"), NotificationStatus.SENT, provider_id="SM-a",
        release=True,
    )  # fmt: skip
    await rig.store.leased_to("a").apply_changes([outcome], rig.clock.now())
    assert await _row(rig, n.id) == ("sending", "b", 0)  # "a" wrote nothing
    await rig.store.leased_to("b").apply_changes([outcome], rig.clock.now())
    assert await _row(rig, n.id) == ("sent", None, 1)  # the holder's write goes through


async def test_the_dispatchers_writes_are_fenced_by_its_lease(rig: Rig) -> None:
    assert rig.dispatcher.store.lease_owner == rig.dispatcher.owner  # type: ignore[attr-defined]
    assert rig.store.lease_owner is None  # the API's and the CLI's writes are not fenced

"""Claims never overlap; rows a dead process left ``sending`` are resolved, not blindly resent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from notifier.domain.models import NotificationStatus
from notifier.domain.ops_notices import LOOKUP_GAVE_UP
from notifier.domain.outbox import LOOKUP_FAILED, Change, Event
from notifier.engine.delivery.recovery import (
    LOOKUP_BACKOFF_MAX,
    LOOKUP_TRIES,
    RecoveryReport,
    recover,
)
from notifier.store.convert import notification_events, notifications
from tests.fakes.http_server import Failure
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


async def test_sms_queued_at_twilio_at_the_crash_is_found_not_resent(rig: Rig) -> None:
    await _pending(rig, 1)
    nid = await _crash_mid_send(rig, "sms")
    rig.twilio.hold_queued = True  # Twilio took it but has not sent it yet: no DateSent
    sms = rig.dispatcher.channels.get("sms")
    assert sms is not None
    from notifier.channels.base import OutboundMessage

    await sms.send(OutboundMessage(dedupe_key="k", channel="sms", to="+5491155550101",
                                   text="Acme: perdón, tu pedido o-0 viene con demora.",
                                   message_name="delivery_late", locale="es"))  # fmt: skip
    assert rig.twilio.messages[0]["date_sent"] is None
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )
    assert (report.found, report.resent) == (1, 0)
    assert await _status(rig, nid) is NotificationStatus.SENT
    assert len(rig.twilio.forms()) == 1


async def test_own_claims_no_task_holds_are_recovered_without_a_restart(rig: Rig) -> None:
    await _pending(rig, 2)
    now = rig.clock.now()
    held, dropped = await rig.store.claim(now, "me", LEASE, 2)
    # A live lease is never taken, not even one's own: it may be a claim under way.
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", now, held={held.id}
    )
    assert report == RecoveryReport()
    now += LEASE + timedelta(seconds=1)  # nobody renewed the dropped one
    # Without ``held``, a process's own rows are never its recovery's.
    report = await recover(rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", now)
    assert report == RecoveryReport()
    report = await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", now, held={held.id}
    )
    assert report.resent == 1  # claimed, never attempted: back in the outbox
    assert await _status(rig, dropped.id) is NotificationStatus.PENDING
    assert await _status(rig, held.id) is NotificationStatus.SENDING
    assert await _status(rig, held.id) is NotificationStatus.SENDING


async def _recover(rig: Rig) -> RecoveryReport:
    return await recover(
        rig.store, rig.dispatcher.channels, rig.settings.dispatch, "me", rig.clock.now()
    )


async def _history(rig: Rig, notification_id: int) -> list[str]:
    found = await rig.store.notification(notification_id)
    assert found is not None
    return [e.type for e in found.history]


async def test_a_failing_lookup_backs_off_then_ends_unknown_with_an_alert(rig: Rig) -> None:
    await _pending(rig, 1)
    nid = await _crash_mid_send(rig, "sms")
    lookups = lambda: [r for r in rig.twilio.requests if r.method == "GET"]  # noqa: E731
    # Twilio throttles first: waiting, not failing; Retry-After says when to ask again.
    rig.twilio.failures.append(Failure(status=429, code=20429, retry_after=1, count=3))
    for _ in range(3):
        assert await _recover(rig) == RecoveryReport(deferred=1)
        assert await _recover(rig) == RecoveryReport()  # held until Retry-After passes
        rig.clock.advance(timedelta(seconds=2))
    assert len(lookups()) == 3 and LOOKUP_FAILED not in await _history(rig, nid)

    rig.twilio.failures.append(Failure(status=500, code=20500, count=100))
    for tries in range(1, LOOKUP_TRIES + 1):
        report = await _recover(rig)
        assert report == (RecoveryReport(unknown=1) if tries == LOOKUP_TRIES else
                          RecoveryReport(deferred=1))  # fmt: skip
        assert len(lookups()) == 3 + tries
        assert await _recover(rig) == RecoveryReport()  # its backoff runs
        rig.clock.advance(LOOKUP_BACKOFF_MAX)
    assert await _status(rig, nid) is NotificationStatus.UNKNOWN
    assert (await _history(rig, nid)).count(LOOKUP_FAILED) == LOOKUP_TRIES - 1
    assert await _recover(rig) == RecoveryReport()  # nothing left to ask about
    assert len(lookups()) == 3 + LOOKUP_TRIES and rig.twilio.forms() == []
    async with rig.store.reading() as conn:
        alerts = (await conn.execute(
            select(notifications.c.payload).where(notifications.c.message == LOOKUP_GAVE_UP)
        )).scalars().all()  # fmt: skip
    (alert,) = alerts
    assert alert["data"]["ids"] == [nid] and alert["data"]["tries"] == LOOKUP_TRIES

"""Throttling and attempts per channel through the real dispatcher, store and local providers.

A provider answering 429 to every third request loses nothing and sends nothing twice; a
throttled send keeps its channel and its attempts; a fallback channel gets its own
NOTIFIER_MAX_ATTEMPTS (the rig's is 3).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from notifier.domain.ingest import CustomerData, InteractionData, PromiseData
from notifier.domain.models import CustomerId, Direction, NotificationStatus, Source
from notifier.domain.reports import NotificationDetail
from notifier.engine.delivery.dispatcher import Dispatcher
from tests.fakes.http_server import Failure
from tests.integration.rig import Rig

SENT, PENDING = NotificationStatus.SENT, NotificationStatus.PENDING


async def _late_customers(rig: Rig, count: int) -> None:
    """``count`` customers who last wrote by SMS, each with one delivery two hours late."""
    ids = [CustomerId(f"c-{i}") for i in range(count)]
    base = {"name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires"}
    await rig.ledger.put_customers(
        [CustomerData(c, {**base, "phone": f"+54911555{i:05d}", "email": f"{c}@example.com"})
         for i, c in enumerate(ids)]
    )  # fmt: skip
    before = rig.clock.now() - timedelta(days=2)
    await rig.ledger.add_interactions(
        [InteractionData(c, "sms", Direction.INBOUND, before) for c in ids]
    )
    due = rig.clock.now() - timedelta(hours=2)
    await rig.ledger.put_promises(
        [PromiseData(c, "delivery", due, f"order-{c}", attributes={"carrier": "oca"}) for c in ids],
        Source.API,
    )


async def _only(rig: Rig) -> NotificationDetail:
    (record,) = await rig.store.list_notifications()
    found = await rig.store.notification(record.notification.id)
    assert found is not None
    return found


async def test_a_provider_throttling_every_third_send_loses_nothing(rig: Rig) -> None:
    # 150, not the issue's 600: the sender honours each 429's Retry-After (1 s of real time,
    # the provider's wish), so 600 take over a minute per database. 150 still see dozens
    # of 429s, over several rounds, on rows that would have run out of attempts before.
    count = 150
    rig.twilio.throttle_every, rig.twilio.throttle_retry_after = 3, 1
    # SMS fast enough that the provider's throttling, not our rate, is what slows it down.
    settings = rig.settings.model_copy(update={"rate_sms": 5000.0})
    d = rig.dispatcher
    dispatcher = Dispatcher(rig.store, d.channels, d.composer, rig.clock, settings.dispatch,
                            settings.scan)  # fmt: skip
    await _late_customers(rig, count)
    report = await rig.scan()
    assert report.scheduled == count
    for _ in range(30):  # each round a third of the sends comes back; a few rounds do
        await dispatcher.dispatch_until_idle()
        stats = await rig.store.queue_stats()
        if stats.count("pending") == 0:
            break
        rig.clock.advance(timedelta(seconds=2))  # past Retry-After and its jitter
    stats = await rig.store.queue_stats()
    assert dict(stats.counts) == {"sent": count}  # none failed, none left behind

    # Each customer got exactly one SMS; every third request was refused, never sent.
    received = Counter(m["to"] for m in rig.twilio.messages)
    assert len(received) == count and set(received.values()) == {1}
    assert rig.twilio.throttled >= count // 3
    rows = await rig.store.list_notifications(limit=count)
    assert {r.notification.channel for r in rows} == {"sms"}
    assert {r.notification.failed_channels for r in rows} == {frozenset()}
    # The throttled tries were given back: one attempt counted per notification.
    assert {r.notification.attempts for r in rows} == {1}


async def test_a_throttled_send_keeps_its_channel_and_is_no_attempt(rig: Rig) -> None:
    rig.twilio.throttle_every, rig.twilio.throttle_retry_after = 1, 1  # every send: 429
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    for _ in range(4):  # more than the rig's 3 attempts
        rig.clock.advance(timedelta(seconds=2))
        await rig.dispatcher.dispatch_until_idle()
    found = await _only(rig)
    n = found.record.notification
    assert (n.status, n.channel, n.attempts, n.failed_channels) == (PENDING, "sms", 0, frozenset())
    assert rig.twilio.messages == [] and rig.smtp.received == []
    throttled = [e for e in found.history if e.type == "throttled"]
    assert len(throttled) == 5 and {e.channel for e in throttled} == {"sms"}
    assert throttled[0].reason == (
        "throttled (rate_limited 20429): Too Many Requests; retry after 1s; "
        "not counted as an attempt on sms"
    )

    rig.twilio.throttle_every = 0  # the provider has room again
    rig.clock.advance(timedelta(seconds=2))
    await rig.dispatcher.dispatch_until_idle()
    found = await _only(rig)
    assert found.record.notification.status is SENT
    assert [m["to"] for m in rig.twilio.messages] == ["+5491155550101"]
    assert found.record.notification.attempts == 1


async def test_the_fallback_channel_gets_its_own_attempts(rig: Rig) -> None:
    rig.twilio.failures.append(Failure(status=500, code=20500, message="down", count=3))
    rig.smtp.recipients["c-1@example.com"] = "451 4.7.1 Greylisted, try again later"
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()  # SMS attempt 1
    for _ in range(2):  # SMS attempts 2 and 3, then at once email attempt 1
        rig.clock.advance(timedelta(minutes=1))
        await rig.dispatcher.dispatch_until_idle()
    n = (await _only(rig)).record.notification
    assert (n.status, n.channel, n.attempts, n.failed_channels) == (
        PENDING, "email", 1, frozenset({"sms"}),
    )  # fmt: skip
    rig.clock.advance(timedelta(minutes=1))
    await rig.dispatcher.dispatch_until_idle()  # email attempt 2: still greylisted
    del rig.smtp.recipients["c-1@example.com"]
    rig.clock.advance(timedelta(minutes=1))
    await rig.dispatcher.dispatch_until_idle()  # email attempt 3 of 3: it goes

    found = await _only(rig)
    n = found.record.notification
    assert (n.status, n.channel, n.attempts) == (SENT, "email", 3)
    attempts = [e.channel for e in found.history if e.type == "attempt"]
    assert attempts == ["sms"] * 3 + ["email"] * 3
    retries = [e.reason for e in found.history if e.type == "retry"]
    assert retries[0] == "transient (provider_error 20500): down; attempt 1 of 3 on sms"
    assert str(retries[-1]).endswith("; attempt 2 of 3 on email")
    assert [m.rcpt_tos for m in rig.smtp.received] == [["c-1@example.com"]]
    assert rig.twilio.messages == []


async def test_a_channel_taken_after_the_last_one_went_down_counts_afresh(rig: Rig) -> None:
    rig.twilio.failures.append(Failure(status=500, code=20500, message="down", count=1))
    rig.smtp.recipients["c-1@example.com"] = "451 4.7.1 Greylisted, try again later"
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()  # SMS attempt 1: 500
    rig.twilio.auth_token = "rotated-by-someone"  # 401: the SMS channel is down
    for _ in range(2):  # SMS attempt 2 (401: down), at once email 1; then email 2
        rig.clock.advance(timedelta(minutes=1))
        await rig.dispatcher.dispatch_until_idle()
    del rig.smtp.recipients["c-1@example.com"]
    rig.clock.advance(timedelta(minutes=1))
    await rig.dispatcher.dispatch_until_idle()  # email attempt 3 of 3: it goes

    (record,) = await rig.store.list_notifications(customer_id="c-1")
    found = await rig.store.notification(record.notification.id)
    assert found is not None
    n = found.record.notification
    assert (n.status, n.channel, n.attempts) == (SENT, "email", 3)
    attempts = [(e.channel, e.reason) for e in found.history if e.type == "attempt"]
    assert attempts == [("sms", "attempt 1"), ("sms", "attempt 2"), ("email", "attempt 1"),
                        ("email", "attempt 2"), ("email", "attempt 3")]  # fmt: skip

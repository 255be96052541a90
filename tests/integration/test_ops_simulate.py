"""The dry run predicts what the real scan and dispatcher then do, tick for tick."""

from __future__ import annotations

from datetime import datetime, timedelta

from notifier.domain.forecast import Forecast
from notifier.domain.models import NotificationStatus, Source
from notifier.engine.planning.simulate import forecast
from tests.integration.rig import Rig

STEP = timedelta(minutes=5)

Sent = set[tuple[str, datetime, str, str | None]]


async def _world(rig: Rig) -> None:
    """Customers and promises that exercise repeats, escalation, quiet hours, cap, folding."""
    await rig.customer("late", last_used="sms")
    await rig.promise("late", "late-1", timedelta(hours=-2))  # late now; repeats; escalates
    await rig.customer("pair", last_used="sms")
    await rig.promise("pair", "pair-1", timedelta(hours=3))  # two notices minutes apart:
    await rig.promise("pair", "pair-2", timedelta(hours=3, minutes=4))  # one message
    await rig.customer("night", last_used="sms")
    await rig.promise("night", "night-1", timedelta(hours=8))  # late at 21:15 local: waits
    await rig.customer("busy", last_used="sms")
    for i, hours in enumerate([-2, 1, 2, 4, 6]):  # more than the cap of 3 a day
        await rig.promise("busy", f"busy-{i}", timedelta(hours=hours))
    await rig.customer("mail", last_used="email", phone=None)
    await rig.promise("mail", "mail-1", timedelta(hours=1))
    await rig.customer("nobody", last_used=None, phone=None, email=None)
    await rig.promise("nobody", "nobody-1", timedelta(hours=-2))  # no address: suppressed
    await rig.customer("kept", last_used="sms")
    await rig.promise("kept", "kept-1", timedelta(minutes=30))  # kept once its notice waits


def _predicted(found: Forecast) -> Sent:
    rows: Sent = set()
    for s in found.sends:
        rows.add((s.dedupe_key, s.at, s.channel, s.message))
        rows.update((key, s.at, s.channel, None) for key in s.members)
    return rows


async def _actual(rig: Rig) -> tuple[Sent, set[str]]:
    sent: Sent = set()
    suppressed: set[str] = set()
    for r in await rig.store.list_notifications(limit=10_000):
        n = r.notification
        if n.status is NotificationStatus.SENT:
            assert r.sent_at is not None and n.channel is not None
            message = None if n.folded_into is not None else n.message
            sent.add((n.dedupe_key, r.sent_at, n.channel, message))
        elif n.status is NotificationStatus.SUPPRESSED:
            suppressed.add(n.dedupe_key)
    return sent, suppressed


async def test_three_days_of_simulation_match_what_the_daemon_then_does(rig: Rig) -> None:
    await _world(rig)
    await rig.tick()  # some went out already: the cap and the ledgers start non-empty
    rig.clock.advance(timedelta(hours=8, minutes=50))  # 20:50 in Buenos Aires
    await rig.scan()  # some wait in the outbox...
    rig.clock.advance(timedelta(minutes=15))  # ...into quiet hours: they wait till morning
    (kept,) = await rig.store.list_promises(customer_id="kept")
    await rig.ledger.keep(kept.id, Source.API)  # its waiting notice is moot now
    before_sent, _ = await _actual(rig)
    stats = await rig.store.queue_stats()
    start = rig.clock.now()
    end = start + timedelta(days=3)

    found = await forecast(rig.store, rig.rules, rig.settings.dispatch, rig.settings.scan,
                           rig.dispatcher.channels.available(), start, end, step=STEP)  # fmt: skip

    assert await rig.store.queue_stats() == stats  # it wrote nothing
    assert (await _actual(rig))[0] == before_sent  # and sent nothing
    assert [s.at for s in found.sends] == sorted(s.at for s in found.sends)
    messages = {s.message for s in found.sends}
    assert {"several_late", "delivery_late", "escalation"} <= messages
    reasons = [r for s in found.sends for r in s.reasons]
    assert any(r.startswith("quiet hours until") for r in reasons)
    assert any(r.startswith("frequency cap") for r in reasons)
    assert any(w.outcome == "cancelled" for w in found.withheld)

    while rig.clock.now() < end:
        await rig.tick()
        rig.clock.advance(STEP)
    await rig.tick()

    sent, suppressed = await _actual(rig)
    assert sent - before_sent == _predicted(found)
    assert suppressed >= {w.dedupe_key for w in found.withheld if w.outcome == "suppressed"}

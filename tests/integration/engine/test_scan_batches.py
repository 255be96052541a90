"""A scan in many batches (each written while the next is planned) equals one in a single batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from notifier.domain.models import PromiseEventType, PromiseStatus
from notifier.engine.planning.scanner import scan
from notifier.store.convert import notifications
from tests.integration.rig import Rig

PROMISES = 7


async def _ledger(rig: Rig) -> list[int]:
    ids = []
    for i in range(PROMISES):
        await rig.customer(f"c-{i}", phone=f"+54911555501{i:02d}")
        ids.append(await rig.promise(f"c-{i}", f"order-{i}", timedelta(hours=1)))
    # Past the deadline and the delivery rule's late stage (overdue 1h, held 15m).
    rig.clock.advance(timedelta(hours=2, minutes=30))
    return ids


async def _outbox(rig: Rig) -> list[tuple[str, list[str]]]:
    """Return every outbox row's dedupe key with its history's event types, in order."""
    async with rig.store.reading() as conn:
        rows = (await conn.execute(select(notifications.c.id, notifications.c.dedupe_key))).all()
    found = []
    for nid, key in sorted(rows, key=lambda r: r[1]):
        report = await rig.store.notification(nid)
        assert report is not None
        found.append((key, [e.type for e in report.history]))
    return found


@pytest.mark.parametrize(("batch_size", "batches"), [(2, 4), (1000, 1)])
async def test_every_promise_is_scanned_once_whatever_the_batch_size(
    rig: Rig, batch_size: int, batches: int
) -> None:
    ids = await _ledger(rig)
    now = rig.clock.now()

    report = await scan(rig.store, rig.rules, now, batch_size=batch_size)

    assert (report.promises, report.broken, report.batches) == (PROMISES, PROMISES, batches)
    outbox = await _outbox(rig)
    assert outbox == sorted((f"delivery-late:{pid}:1:0", ["scheduled"]) for pid in ids)
    assert report.scheduled == PROMISES
    for pid in ids:
        promise = await rig.store.get_promise(pid)
        assert promise is not None
        assert promise.status is PromiseStatus.BROKEN and promise.times_broken == 1
        assert promise.next_check_at is None or promise.next_check_at > now
        events = await rig.store.promise_events(pid)
        assert [e.type for e in events].count(PromiseEventType.BROKEN) == 1

    again = await scan(rig.store, rig.rules, now, batch_size=batch_size)
    assert again.promises == 0 and await _outbox(rig) == outbox


async def test_a_notice_held_for_company_records_why(rig: Rig) -> None:
    await rig.customer("c-1")
    first = await rig.promise("c-1", "order-1", timedelta(hours=1))
    second = await rig.promise("c-1", "order-2", timedelta(hours=1, minutes=10))
    # The first order's late notice is due; the second's comes 5 minutes later, within
    # the consolidation window: the first waits for it, and its history says so.
    rig.clock.advance(timedelta(hours=2, minutes=20))
    now = rig.clock.now()

    report = await scan(rig.store, rig.rules, now)

    assert (report.promises, report.scheduled) == (2, 1)
    outbox = await _outbox(rig)
    assert outbox == [(f"delivery-late:{first}:1:0", ["scheduled", "held"])]
    promise = await rig.store.get_promise(second)
    assert promise is not None and promise.next_check_at == now + timedelta(minutes=5)
    async with rig.store.reading() as conn:
        (not_before,) = (await conn.execute(select(notifications.c.not_before))).one()
    assert not_before == promise.next_check_at

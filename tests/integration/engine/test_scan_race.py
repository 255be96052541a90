"""A promise changed while the scan looked at it keeps the change; the next scan sees it."""

from __future__ import annotations

from datetime import timedelta

from notifier.domain.models import PromiseStatus, Source
from notifier.domain.scan import plan_promise
from tests.integration.rig import Rig


async def test_a_keep_during_the_scan_is_not_overwritten(rig: Rig) -> None:
    await rig.customer("c-1")
    await rig.customer("c-2")
    kept_id = await rig.promise("c-1", "order-1", timedelta(hours=5))
    other_id = await rig.promise("c-2", "order-2", timedelta(hours=5))
    now = rig.clock.now()
    due = await rig.store.due_promises(now, 10)
    plans = [plan_promise(d, rig.rules, now) for d in due]

    rig.clock.advance(timedelta(seconds=1))
    await rig.ledger.keep(kept_id, Source.API)  # lands between the scan's read and write
    await rig.store.apply_scan([c for c, _ in plans], [], now)

    kept = await rig.store.get_promise(kept_id)
    other = await rig.store.get_promise(other_id)
    assert kept is not None and other is not None
    assert kept.status is PromiseStatus.KEPT
    assert kept.next_check_at == rig.clock.now()  # as the keep left it: looked at next scan
    assert other.next_check_at is not None and other.next_check_at > now  # the scan's answer

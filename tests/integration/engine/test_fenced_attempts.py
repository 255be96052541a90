"""A replica that lost a row's lease neither writes its attempt nor starts its send.

Found by the 3-replica e2e (tests/e2e/test_e2e_replicas_load.py with a lease shorter than
the renewal): the attempt's fenced write left the row alone, yet the sender went on and
sent a row another replica had adopted, which then went out twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from notifier.domain.outbox import Change
from notifier.domain.routing import Send, Via
from notifier.engine.delivery.faults import write_batch
from notifier.engine.delivery.ports import ChangeWriter
from notifier.engine.delivery.sending import Attempt
from notifier.observability import Metrics
from tests.integration.rig import Rig

LEASE = timedelta(seconds=60)


async def _claimed_then_adopted(rig: Rig) -> Attempt:
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "o-1", timedelta(hours=-2))
    await rig.scan()
    (n,) = await rig.store.claim(rig.clock.now(), "a", timedelta(seconds=1), 1)
    rig.clock.advance(timedelta(seconds=5))  # "a" stalls past its lease; "b" adopts the row
    assert await rig.store.adopt([n.id], rig.clock.now(), "b", LEASE) == [n.id]
    change = Change(n.id, attempted_at=rig.clock.now(), count_attempt=True)
    return Attempt(n, Send("sms", "+5491155550000", Via.LAST_USED), (), change)


async def test_the_fenced_store_says_which_rows_it_wrote(rig: Rig) -> None:
    attempt = await _claimed_then_adopted(rig)
    now = rig.clock.now()
    assert await rig.store.leased_to("a").apply_changes([attempt.change], now) == set()
    assert await rig.store.leased_to("b").apply_changes([attempt.change], now) == {
        attempt.notification.id
    }


async def test_an_attempt_whose_lease_was_lost_is_not_returned_for_sending(rig: Rig) -> None:
    attempt = await _claimed_then_adopted(rig)
    now = rig.clock.now()
    lost = await write_batch(rig.store.leased_to("a"), [attempt.change], [attempt], now, Metrics())
    assert lost == []  # "a" must not send: the row is "b"'s
    held = await write_batch(rig.store.leased_to("b"), [attempt.change], [attempt], now, Metrics())
    assert held == [attempt]


class _FirstWriteFails:
    """The fenced store, but its first write fails: the batch falls back to one per message."""

    def __init__(self, store: ChangeWriter) -> None:
        self.store, self.failed = store, False

    async def apply_changes(self, changes: Sequence[Change], now: datetime) -> Collection[int]:
        if not self.failed:
            self.failed = True
            raise OSError("connection reset by peer")
        return await self.store.apply_changes(changes, now)


async def test_a_lost_attempt_is_not_sent_when_the_batch_write_falls_back_row_by_row(
    rig: Rig,
) -> None:
    attempt = await _claimed_then_adopted(rig)
    now = rig.clock.now()
    lost = _FirstWriteFails(rig.store.leased_to("a"))
    assert await write_batch(lost, [attempt.change], [attempt], now, Metrics()) == []
    held = _FirstWriteFails(rig.store.leased_to("b"))
    assert await write_batch(held, [attempt.change], [attempt], now, Metrics()) == [attempt]

"""The store's wake-ups: the earliest check and send, and other processes' changes heard.

Each "other process" is a second ``Store`` on its own engine, as the CLI or another
replica would be: on SQLite its commits move ``PRAGMA data_version``, on PostgreSQL its
transactions NOTIFY. The outage cases run PostgreSQL through the TCP proxy of the e2e
tests, cut and blackholed for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from notifier.domain.ingest import CustomerData, PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.wiring.wakeups import Wakeups
from notifier.store.convert import promises
from notifier.store.dialects.postgres_listen import PING_EVERY, PING_TIMEOUT
from notifier.store.earliest import CHECK, announce
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.e2e.daemon import wait_for
from tests.e2e.tcp_proxy import TcpProxy
from tests.integration.rig import Rig

PATIENCE = 60.0


class Heard:
    """What ``follow_changes`` reported, in order."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def __call__(self, kind: str) -> None:
        self.kinds.append(kind)

    def count(self, kind: str) -> int:
        return self.kinds.count(kind)


Follow = Callable[[Store], Heard]


@pytest.fixture
async def follow() -> AsyncIterator[Follow]:
    """Start ``follow_changes`` on a store as a task; stop them all when the test ends."""
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(store: Store) -> Heard:
        heard = Heard()
        tasks.append(asyncio.create_task(store.follow_changes(heard, stopping)))
        return heard

    yield start
    stopping.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=PATIENCE)


async def _listening(heard: Heard, times: int = 1) -> None:
    await wait_for(lambda: heard.count("listening") >= times, "the feed to listen", PATIENCE)


async def _promise(ledger: Ledger, cid: str, ref: str, due_in: timedelta) -> None:
    data = PromiseData(CustomerId(cid), "delivery", ledger.clock.now() + due_in, ref,
                       attributes={"carrier": "oca", "order_id": ref})  # fmt: skip
    await ledger.put_promises([data], Source.CLI)


async def test_earliest_check_and_send_are_the_minimums(rig: Rig) -> None:
    store = rig.store
    assert await store.earliest_check() is None
    assert await store.earliest_send() is None
    await rig.customer("c-1")
    first = await rig.promise("c-1", "o-1", timedelta(hours=3))
    await rig.promise("c-1", "o-2", timedelta(hours=1))
    now = rig.clock.now()
    assert await store.earliest_check() == now  # a new promise is due for a check at once
    await rig.scan()  # plans the late-delivery stages: the checks move to instants ahead
    earliest = await store.earliest_check()
    assert earliest is not None and earliest > now
    async with store.transaction() as conn:
        await conn.execute(update(promises).where(promises.c.id == first).values(next_check_at=now))
    assert await store.earliest_check() == now
    rig.clock.advance(timedelta(hours=5))
    await rig.scan()  # both late now: their apologies wait in the outbox
    send = await store.earliest_send()
    assert send is not None and send <= rig.clock.now()
    await rig.dispatcher.dispatch_until_idle()
    assert await store.earliest_send() is None  # sent: nothing pending any more


async def test_another_processs_promise_is_heard(rig: Rig, db_url: str, follow: Follow) -> None:
    other = Store.open(db_url)  # the CLI's, or another replica's
    try:
        heard = follow(rig.store)
        await _listening(heard)
        await rig.customer("c-1")
        before = len(heard.kinds)
        await _promise(Ledger(other, rig.clock), "c-1", "o-1", timedelta(hours=1))
        await wait_for(lambda: len(heard.kinds) > before, "the other store's change", PATIENCE)
        assert set(heard.kinds[before:]) <= {CHECK, "commit"}
    finally:
        await other.close()


@pytest.mark.postgres
async def test_only_a_change_is_announced(postgres_url: str, follow: Follow) -> None:
    store = Store.open(postgres_url)
    try:
        ledger = Ledger(store, FakeClock())
        await ledger.put_customers([CustomerData(CustomerId("c-1"), {"name": "Ana"})])
        await _promise(ledger, "c-1", "o-1", timedelta(hours=1))
        heard = follow(store)
        await _listening(heard)
        await _promise(ledger, "c-1", "o-1", timedelta(hours=1))  # the same again: no change
        await _promise(ledger, "c-1", "o-2", timedelta(hours=1))  # a new one: one NOTIFY
        # NOTIFYs arrive in commit order: the second's means the first sent none.
        await wait_for(lambda: heard.count(CHECK), "the NOTIFY of the new promise", PATIENCE)
        assert heard.count(CHECK) == 1
        async with store.transaction() as conn:  # rolled back: nothing is delivered
            await announce(conn, "rolled-back")
            await conn.rollback()
        await _promise(ledger, "c-1", "o-3", timedelta(hours=1))
        await wait_for(lambda: heard.count(CHECK) == 2, "the next NOTIFY", PATIENCE)
        assert "rolled-back" not in heard.kinds
    finally:
        await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["cut", "blackholed"])
async def test_listening_survives_an_outage(postgres_url: str, follow: Follow, fault: str) -> None:
    proxy = await TcpProxy.in_front_of(postgres_url)
    through = Store.open(proxy.through(postgres_url))
    writer = Store.open(postgres_url)
    try:
        heard = follow(through)
        await _listening(heard)
        if fault == "cut":
            proxy.cut()  # the listener hears its connection close; reconnecting fails
            await asyncio.sleep(1.0)
        else:
            proxy.blackhole()  # silence: only the listener's ping, bounded, finds it out
            await asyncio.sleep(PING_EVERY + PING_TIMEOUT + 1.0)
        proxy.heal()
        await _listening(heard, 2)
        before = heard.count(CHECK)
        async with writer.transaction() as conn:
            await announce(conn, CHECK)
        await wait_for(lambda: heard.count(CHECK) > before, "a NOTIFY after it", PATIENCE)
    finally:
        await through.close()
        await writer.close()
        await proxy.stop()


async def test_wakeups_hand_the_earliest_check_on(rig: Rig, db_url: str) -> None:
    checks: list[datetime] = []
    sends: list[datetime] = []
    wakeups = Wakeups(rig.store, checks.append, sends.append)
    stopping = asyncio.Event()
    task = asyncio.create_task(wakeups.run(stopping))
    other = Store.open(db_url)  # the CLI's, or another replica's
    try:
        await rig.customer("c-1")
        await _promise(Ledger(other, rig.clock), "c-1", "o-1", timedelta(hours=1))
        # The new promise is due for a check at once (the clock's now when it was written).
        await wait_for(lambda: rig.clock.now() in checks, "its check handed on", PATIENCE)
        assert sends == []  # nothing in the outbox yet
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=PATIENCE)
        await other.close()

"""Two replicas on one PostgreSQL behave as one: two Store instances on their own engines.

The scan is planned by one replica per tick; a customer's due rows are claimed by one
replica at a time, all together, so the frequency cap holds across dispatchers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from notifier.domain.models import NotificationStatus, PromiseEventType
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.planning.scanner import ScanReport, scan
from notifier.store.convert import notifications, promise_events, promises
from notifier.store.store import Store
from notifier.templates import Company
from tests.integration.rig import Rig

pytestmark = pytest.mark.postgres
LEASE = timedelta(seconds=60)
DEADLINE = 60.0  # seconds: generous, a shared machine


@pytest.fixture
def db_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite has one daemon a file."""
    return postgres_url


@pytest.fixture
async def other(db_url: str) -> AsyncIterator[Store]:
    """The second replica's store: its own engine, its own connections."""
    store = Store.open(db_url)
    yield store
    await store.close()


async def _late_promises(rig: Rig, customers: int, each: int) -> None:
    for i in range(customers):
        await rig.customer(f"c-{i}", phone=f"+54911555{i:05d}")
        for j in range(each):
            await rig.promise(f"c-{i}", f"o-{i}-{j}", timedelta(hours=-2))


async def _count(store: Store, query: object) -> int:
    async with store.reading() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def test_concurrent_scans_plan_each_due_promise_once(rig: Rig, other: Store) -> None:
    await _late_promises(rig, 60, 2)
    now = rig.clock.now()
    reports: list[ScanReport] = list(
        await asyncio.gather(
            scan(rig.store, rig.rules, now, batch_size=20),
            scan(other, rig.rules, now, batch_size=20),
            scan(rig.store, rig.rules, now, batch_size=20),
            scan(other, rig.rules, now, batch_size=20),
        )
    )
    assert sum(r.promises for r in reports) == 120  # each due promise planned once
    assert sum(r.broken for r in reports) == 120
    outbox = await _count(rig.store, select(func.count()).select_from(notifications))
    assert outbox == sum(r.scheduled for r in reports) > 0
    broken_events = await _count(
        rig.store,
        select(func.count())
        .select_from(promise_events)
        .where(promise_events.c.type == PromiseEventType.BROKEN.value),
    )
    assert broken_events == 120
    assert await _count(rig.store, select(func.max(promises.c.times_broken))) == 1


async def test_a_scan_skips_the_tick_while_another_replica_scans(rig: Rig, other: Store) -> None:
    await _late_promises(rig, 3, 1)
    now = rig.clock.now()
    async with rig.store.scan_turn() as ours:
        assert ours
        skipped = await scan(other, rig.rules, now)
    assert skipped.skipped and skipped.promises == 0
    assert await _count(rig.store, select(func.count()).select_from(notifications)) == 0
    planned = await scan(other, rig.rules, now)  # the turn is free again
    assert not planned.skipped and planned.promises == 3


async def _due_outbox(rig: Rig, customers: int, each: int) -> dict[str, int]:
    """Scan late promises into the outbox; once the held ones are due, rows per customer."""
    await _late_promises(rig, customers, each)
    await rig.scan()
    rig.clock.advance(timedelta(hours=1))  # past the consolidation window: all are due
    async with rig.store.reading() as conn:
        rows = await conn.execute(
            select(notifications.c.customer_id, func.count())
            .where(notifications.c.status == NotificationStatus.PENDING.value)
            .group_by(notifications.c.customer_id)
        )
        return {str(cid): int(n) for cid, n in rows}


async def test_a_claim_takes_all_of_a_customers_due_rows(rig: Rig, other: Store) -> None:
    per_customer = await _due_outbox(rig, 2, 3)
    assert min(per_customer.values()) > 1
    now = rig.clock.now()
    first = await rig.store.claim(now, "a", LEASE, 1)
    (customer,) = {n.customer_id for n in first}
    assert len(first) == per_customer[customer]
    second = await other.claim(now, "b", LEASE, 10)
    assert {n.customer_id for n in second} == set(per_customer) - {customer}


async def test_concurrent_claims_never_share_a_customer(rig: Rig, other: Store) -> None:
    per_customer = await _due_outbox(rig, 30, 3)
    now = rig.clock.now()
    owners: dict[str, set[str]] = {}
    claimed_rows = 0
    for _ in range(40):
        a, b = await asyncio.gather(
            rig.store.claim(now, "a", LEASE, 4), other.claim(now, "b", LEASE, 4)
        )
        if not a and not b:
            break
        for owner, batch in (("a", a), ("b", b)):
            counts: dict[str, int] = {}
            for n in batch:
                assert n.customer_id is not None
                counts[n.customer_id] = counts.get(n.customer_id, 0) + 1
                owners.setdefault(n.customer_id, set()).add(owner)
            claimed_rows += len(batch)
            for cid, n in counts.items():
                assert n == per_customer[cid], "a claim takes all of a customer's due rows"
    assert claimed_rows == sum(per_customer.values())
    assert all(len(o) == 1 for o in owners.values()), owners


async def test_a_customer_sending_elsewhere_is_not_claimed(rig: Rig, other: Store) -> None:
    await _due_outbox(rig, 1, 2)
    now = rig.clock.now()
    taken = await rig.store.claim(now, "a", timedelta(hours=3), 10)  # outlasts the test
    (cid,) = {n.customer_id for n in taken}
    await rig.promise(str(cid), "o-late", timedelta(hours=-2))
    await rig.scan()
    rig.clock.advance(timedelta(hours=1))
    later = rig.clock.now()
    assert await other.claim(later, "b", LEASE, 10) == []  # "a" is still sending for them
    again = await rig.store.claim(later, "a", LEASE, 10)  # "a" itself may take them
    assert again and {n.customer_id for n in again} == {cid}


def _replica(rig: Rig, store: Store, owner: str, cap: int) -> Dispatcher:
    # Small claims: one customer's rows would fall in several claims, several replicas.
    settings = rig.settings.model_copy(update={"frequency_cap": cap, "dispatch_batch_size": 2})
    composer = Composer(
        rig.dispatcher.composer.renderer, Company.from_settings(settings.messages),
        settings.messages, settings.links,
    )  # fmt: skip
    return Dispatcher(
        store, rig.dispatcher.channels, composer, rig.clock, settings.dispatch, settings.scan,
        owner=owner,
    )  # fmt: skip


async def test_a_cap_of_one_holds_across_two_dispatchers(rig: Rig, other: Store) -> None:
    per_customer = await _due_outbox(rig, 12, 3)
    a, b = _replica(rig, rig.store, "a", 1), _replica(rig, other, "b", 1)
    await asyncio.wait_for(
        asyncio.gather(a.dispatch_until_idle(), b.dispatch_until_idle()), DEADLINE
    )
    since = rig.clock.now() - timedelta(days=1)
    sent = await rig.store.sent_since(sorted(per_customer), since)
    assert sent, "something went out"
    assert all(len(times) <= 1 for times in sent.values()), sent
    phones: dict[str, int] = {}
    for form in rig.twilio.forms():
        phones[form["To"]] = phones.get(form["To"], 0) + 1
    assert all(n <= 1 for n in phones.values()), phones


async def test_a_claim_looks_past_customers_busy_elsewhere(rig: Rig, other: Store) -> None:
    await _due_outbox(rig, 1, 1)
    now = rig.clock.now()
    (busy,) = {n.customer_id for n in await rig.store.claim(now, "a", timedelta(hours=3), 10)}
    await rig.promise(str(busy), "o-more", timedelta(hours=-2))  # due first, but busy
    await rig.customer("c-free", phone="+5491155559999")
    await rig.promise("c-free", "o-free", timedelta(hours=-2))
    await rig.scan()
    rig.clock.advance(timedelta(hours=1))
    taken = await other.claim(rig.clock.now(), "b", LEASE, 1)
    assert {n.customer_id for n in taken} == {"c-free"}

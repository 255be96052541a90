"""One rate for the cluster: limiters on separate engines share one bucket in the database.

Slots are checked as the database hands them out (explicit instants); where real waiting
is involved only lower bounds are asserted (a sleeper wakes late, never early).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from notifier.domain.pacing import LATENESS, BucketState, Departure, reserve, spaced, throttle
from notifier.engine.delivery.ratelimit import ClusterLimiter, Rate
from notifier.store.convert import notification_events, notifications
from notifier.store.store import Store
from tests.integration.rig import Rig

T0 = 1_800_000_000.0


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on two engines: two replicas' views of one database."""
    a, b = Store.open(db_url), Store.open(db_url)
    yield a, b
    await a.close()
    await b.close()


def _worst_window(grants: list[tuple[float, float]]) -> float:
    grants = sorted(grants)
    return max(sum(c for s, c in grants if start <= s < start + 1.0) for start, _ in grants)


async def test_concurrent_reservations_from_two_engines_hold_the_rate(
    stores: tuple[Store, Store],
) -> None:
    rate = 20.0
    grants: list[tuple[float, float]] = []

    async def replica(store: Store, seed: int) -> None:
        rng = random.Random(seed)
        for i in range(40):
            cost = rng.choice([1.0, 1.0, 2.0])
            r = await store.reserve_rate("sms", "default", cost, rate, now=T0 + i * 0.02)
            assert r.slot is not None
            grants.append((r.slot, cost))

    await asyncio.gather(*(replica(s, i) for i, s in enumerate([*stores, *stores])))
    assert len(grants) == 160
    assert _worst_window(grants) <= rate + 2.0 + 1e-6  # the rate plus one message
    # Back to back, none lost: the last slot ends where the costs at the rate end.
    assert max(s for s, _ in grants) >= T0 + (sum(c for _, c in grants) - 2.0) / rate - 1e-6


async def test_the_database_reserves_as_the_domain_specifies(store: Store) -> None:
    rng = random.Random(7)
    state, now = BucketState(), T0
    for _ in range(60):
        now += rng.choice([0.0, 0.01, 0.3, 2.0])
        cost, quota = rng.choice([1.0, 2.0, 3.0]), rng.choice([None, 25])
        if rng.random() < 0.1:
            state = throttle(state, now, 0.5)
            await store.throttle_rate("x", "default", 0.5, now=now)
        lead = rng.choice([0.0, 0.0, 0.05])  # the asker's attempt write fits before it
        state, expected = reserve(state, cost, 10.0, now, per_day=quota, lead=lead)
        got = await store.reserve_rate(
            "x", "default", cost, 10.0, per_day=quota, now=now, lead=lead
        )
        assert got.slot == pytest.approx(expected.slot) and got.retry_at == expected.retry_at
    stored = await store.rate_bucket("x", "default")
    assert stored is not None and stored.day_count == state.day_count
    assert stored.tat == pytest.approx(state.tat)


async def test_limiters_of_two_replicas_share_the_rate(stores: tuple[Store, Store]) -> None:
    rate, each = 40.0, 30
    limiters = [ClusterLimiter(s, {"email": Rate(rate)}) for s in stores]
    started = time.time()
    results = await asyncio.gather(
        *(lim.acquire("email", "default", 1.0) for lim in limiters for _ in range(each))
    )
    assert all(isinstance(d, Departure) for d in results), results
    earliest = sorted(d.earliest for d in results if isinstance(d, Departure))
    # 60 grants at the margin below 40/s: the first at once, the last no sooner than 59
    # steps of (1 + LATENESS) / 40 s later; no window of them above the rate plus one.
    assert earliest[0] >= started
    assert earliest[-1] - earliest[0] >= (2 * each - 1) / spaced(rate) - 0.01
    assert _worst_window([(t, 1.0) for t in earliest]) <= rate + 1.0
    for lim in limiters:  # each replica knows its clock against the database's closely
        assert 0.0 <= lim.clock.high - lim.clock.low < LATENESS


async def test_the_x_daily_quota_survives_a_new_instance(db_url: str) -> None:
    rates = {"x": Rate(50.0, per_day=3)}
    first = Store.open(db_url)
    try:
        limiter = ClusterLimiter(first, rates)
        granted = [await limiter.acquire("x", "default", 1.0) for _ in range(3)]
        assert all(isinstance(d, Departure) for d in granted), granted
        assert isinstance(await limiter.acquire("x", "default", 1.0), datetime)
    finally:
        await first.close()
    again = Store.open(db_url)  # a restart: a new process, a new engine
    try:
        until = await ClusterLimiter(again, rates).acquire("x", "default", 1.0)
        assert isinstance(until, datetime) and until.timestamp() > time.time()
        assert until.timestamp() % 86400 == 0  # the next UTC day
    finally:
        await again.close()


async def test_a_throttle_by_one_replica_delays_every_replica(
    stores: tuple[Store, Store],
) -> None:
    a, b = (ClusterLimiter(s, {"sms": Rate(100.0)}) for s in stores)
    await b.acquire("sms", "default", 1.0)  # b has used the bucket before
    await a.throttle("sms", "default", timedelta(seconds=0.6))
    started = time.time()
    granted = await b.acquire("sms", "default", 1.0)
    assert isinstance(granted, Departure) and granted.earliest - started >= 0.5
    stored = await stores[0].rate_bucket("sms", "default")
    assert stored is not None and stored.blocked_until > stored.tat - 0.02


async def test_a_send_whose_rate_cannot_be_reserved_goes_back_unattempted(rig: Rig) -> None:
    """The rate store failing (here: its table gone) puts the row back, nothing sent or counted."""
    await rig.customer("c-1", last_used="sms")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    async with rig.store.transaction() as conn:
        await conn.execute(text("DROP TABLE rate_buckets"))
    await rig.tick()
    assert rig.twilio.forms() == []
    async with rig.store.reading() as conn:
        row = (await conn.execute(select(notifications))).mappings().one()
        history = (await conn.execute(select(notification_events.c.type))).scalars().all()
    assert (row["status"], row["attempts"], row["attempted_at"]) == ("pending", 0, None)
    assert row["lease_owner"] is None and "released" in history and "attempt" not in history

"""A periodic job runs once a tick across replicas: one ``daemon_state`` row per job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from notifier.engine.wiring.jobs import tick_start
from notifier.store.store import Store

TICK = datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC)
EVERY = timedelta(seconds=10)


async def test_one_replica_takes_each_tick(store: Store, db_url: str) -> None:
    other = Store.open(db_url)
    try:
        for i in range(3):
            tick = TICK + timedelta(seconds=10 * i)
            taken = await asyncio.gather(
                store.claim_tick("housekeeping", tick, EVERY, "a"),
                other.claim_tick("housekeeping", tick, EVERY, "b"),
            )
            assert sorted(taken) == [False, True], (i, taken)
        # A replica whose clock lags asks for a tick already run: nobody runs it again.
        assert not await other.claim_tick("housekeeping", TICK + EVERY, EVERY, "b")
        # Another job has its own ticks.
        assert await other.claim_tick("reports", TICK, EVERY, "b")
        # A clock set back by more than a period: the job goes on from there.
        assert await other.claim_tick("housekeeping", TICK - timedelta(hours=1), EVERY, "b")
    finally:
        await other.close()


async def test_the_job_rows_stay_out_of_the_published_state(store: Store) -> None:
    assert await store.claim_tick("housekeeping", TICK, EVERY, "a")
    published = await store.published()
    assert published.scan is None and published.rules is None


def test_a_tick_starts_at_the_same_instant_on_every_replica() -> None:
    every = timedelta(seconds=10)
    assert tick_start(TICK + timedelta(seconds=3.5), every) == TICK
    assert tick_start(TICK + timedelta(seconds=9.999), every) == TICK
    assert tick_start(TICK + every, every) == TICK + every

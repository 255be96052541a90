"""The daemon's purge job: once a tick across replicas, and off when told so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from notifier.clock import system_clock
from notifier.config import Settings
from notifier.domain.models import Source
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.monitor import Health
from notifier.engine.wiring.jobs import PURGE_EVERY, Jobs, tick_start
from notifier.observability import Metrics
from notifier.store.convert import promises
from notifier.store.store import Store
from tests.integration.rig import Rig
from tests.integration.test_retention import LATER, RETENTION, count, late_promise, quiet, rows


async def test_two_replicas_purge_once_a_tick(rig: Rig, db_url: str) -> None:
    for i in range(3):
        pid = await late_promise(rig, f"c-{i}", f"order-{i}")
        await rig.ledger.keep(pid, Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    await quiet(rig)
    settings = rig.settings.model_copy(update={"test_mode": True, "now": rig.clock.now()})
    other = Store.open(db_url)
    try:
        replicas = []
        for store in (rig.store, other):
            clock = system_clock(settings.clock)
            dispatcher = Dispatcher(
                store, rig.dispatcher.channels, rig.dispatcher.composer, clock,
                settings.dispatch, settings.scan,
            )  # fmt: skip
            replicas.append(jobs_of(settings, store, dispatcher))
        # The tick is the wall clock's minute, as scheduled: a run that straddles two
        # minutes may rightly purge twice (the second finding nothing), so it is told apart.
        tick = tick_start(datetime.now(UTC), PURGE_EVERY)
        await asyncio.gather(*(d.purge() for d in replicas))
        await asyncio.gather(*(d.purge() for d in replicas))  # the same tick again
        one_tick = tick_start(datetime.now(UTC), PURGE_EVERY) == tick
    finally:
        await other.close()

    def purged(d: Jobs, kind: str) -> float:
        return d.metrics.registry.get_sample_value("notifier_purged_rows_total",
                                                   {"kind": kind}) or 0.0  # fmt: skip

    ran = [
        d
        for d in replicas
        if d.metrics.registry.get_sample_value("notifier_last_purge_timestamp_seconds")
    ]
    assert sum(purged(d, "promises") for d in replicas) == 3
    assert len(ran) == 1 if one_tick else 1 <= len(ran) <= 2
    published = (await rig.store.published()).retention
    assert published is not None and published.value.retention == RETENTION
    assert await count(rig.store, promises) == 0


async def test_off_purges_nothing_and_says_so(rig: Rig) -> None:
    pid = await late_promise(rig, "c-1", "order-kept")
    await rig.ledger.keep(pid, Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    await quiet(rig)
    settings = rig.settings.model_copy(
        update={"test_mode": True, "now": rig.clock.now(), "retention": None}
    )
    await jobs_of(settings, rig.store, rig.dispatcher).purge()

    published = (await rig.store.published()).retention
    assert published is not None and published.value.retention is None
    assert await rig.store.get_promise(pid) is not None
    assert all(r["purged_at"] is None for r in await rows(rig.store))


def jobs_of(settings: Settings, store: Store, dispatcher: Dispatcher) -> Jobs:
    """The periodic jobs of one replica over ``store``, as ``notifier run`` makes them."""
    metrics = Metrics()
    return Jobs(
        settings, store, system_clock(settings.clock), dispatcher, dispatcher.channels,
        metrics, Health.from_settings(settings.scan, metrics), asyncio.Event(),
    )  # fmt: skip

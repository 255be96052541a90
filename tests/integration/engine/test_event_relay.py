"""The relay against a local receiver that checks every signature, fails and goes down.

Every event arrives, in order per promise, none twice (by its id), on SQLite and
PostgreSQL; two replicas never post one promise's events at once; a refused event is
parked, counted and requeued; shutdown gives back what it had not finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from notifier.channels.crm_webhook import CrmWebhook
from notifier.config.groups import EventSettings
from notifier.domain.ingest import CustomerData, PromiseData
from notifier.domain.models import CustomerId, Source
from notifier.engine.ingest.ledger_service import Ledger
from notifier.engine.outbound.relay import Relay
from notifier.engine.reporting.service import Reporting
from notifier.observability import Metrics
from notifier.store.convert import event_outbox
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.fakes.events_receiver import EventsReceiver

SECRET = "whsec-test-0123456789"
DEADLINE = 90.0  # seconds: a loaded 2-core machine


class RunningClock:
    """The fake clock's instant, then on at the machine's pace (as NOTIFIER_NOW runs)."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def settings(url: str, **changes: object) -> EventSettings:
    values: dict[str, object] = {
        "events_url": url, "events_secret": SecretStr(SECRET),
        "events_timeout": timedelta(seconds=5), "events_max_backoff": timedelta(seconds=0.3),
        "events_concurrency": 8, "events_keep": timedelta(days=7),
        "shutdown_grace": timedelta(seconds=5),
    }  # fmt: skip
    values.update(changes)
    return EventSettings(**values)  # type: ignore[arg-type]  # the test's own table


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store.open(db_url, events=True)
    yield s
    await s.close()


@pytest.fixture
async def receiver() -> AsyncIterator[EventsReceiver]:
    r = EventsReceiver(SECRET)
    await r.start()
    yield r
    await r.stop()


async def make_threads(store: Store, clock: FakeClock, promises: int) -> list[int]:
    """Create, reschedule and keep ``promises`` promises: three events each."""
    ledger = Ledger(store, clock)
    await ledger.put_customers(
        [CustomerData(CustomerId("c-1"), {"locale": "es", "timezone": "UTC"})]
    )
    due = clock.now() + timedelta(days=1)
    items = [PromiseData(CustomerId("c-1"), "delivery", due, f"o-{i}") for i in range(promises)]
    pids = [int(getattr(r, "id")) for r in await ledger.put_promises(items, Source.API)]  # noqa: B009
    for pid in pids:
        await ledger.reschedule(pid, due + timedelta(days=1), None, Source.API)
    for pid in pids:
        await ledger.keep(pid, Source.API)
    return pids


async def outbox_keys(store: Store) -> set[str]:
    async with store.reading() as conn:
        return {r[0] for r in await conn.execute(select(event_outbox.c.key))}


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE} s: {what}")


def relay(
    store: Store, s: EventSettings, clock: FakeClock, owner: str, metrics: Metrics | None = None
) -> Relay:
    return Relay(store, CrmWebhook(s), s, RunningClock(clock.now()), owner, metrics)


def delivered(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "notifier_events_posts_total", {"outcome": "delivered"}
    )
    return value or 0.0


def check_threads(receiver: EventsReceiver, pids: list[int]) -> None:
    assert receiver.forged == 0
    assert len(receiver.ids()) == len(set(receiver.ids()))  # none twice
    assert receiver.sequences() == {f"promise:{p}": [1, 2, 3] for p in pids}  # all, in order
    assert receiver.overlaps == 0  # one event of a promise in flight at a time


async def test_every_event_arrives_once_in_order_through_failures_and_an_outage(
    store: Store, clock: FakeClock, receiver: EventsReceiver
) -> None:
    pids = await make_threads(store, clock, 12)
    receiver.fail_every = 4
    stopping = asyncio.Event()
    task = asyncio.create_task(relay(store, settings(receiver.url), clock, "r1").run(stopping))
    try:
        await until(lambda: len(receiver.accepted) >= 8, "the first events")
        await receiver.down()
        await asyncio.sleep(1.0)  # refused connections meanwhile: retried with backoff
        await receiver.up()
        await until(lambda: len(receiver.accepted) == 36, "all 36 events")
        assert set(receiver.ids()) == await outbox_keys(store)
        check_threads(receiver, pids)
        await until(lambda: _drained(store), "the outbox drained")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert receiver.requests > 36  # the failures were real, and retried


async def _drained(store: Store) -> bool:
    backlog = await store.event_backlog()
    return backlog.pending == 0 and backlog.oldest is None


async def test_two_replicas_never_post_one_promise_at_once(
    store: Store, db_url: str, clock: FakeClock, receiver: EventsReceiver
) -> None:
    pids = await make_threads(store, clock, 30)
    receiver.fail_every, receiver.latency = 5, 0.02
    other = Store.open(db_url, events=True)
    stopping = asyncio.Event()
    s = settings(receiver.url, events_concurrency=6)
    a, b = Metrics(), Metrics()
    tasks = [
        asyncio.create_task(relay(store, s, clock, "a", a).run(stopping)),
        asyncio.create_task(relay(other, s, clock, "b", b).run(stopping)),
    ]
    try:
        await until(lambda: len(receiver.accepted) >= 90, "all 90 events")
        await asyncio.sleep(0.5)  # a double post would land now
        check_threads(receiver, pids)
        assert len(receiver.accepted) == 90
        assert delivered(a) + delivered(b) == 90
        assert delivered(a) > 0 and delivered(b) > 0  # both took their share
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await other.close()


async def test_a_refused_event_is_parked_counted_and_requeued(
    store: Store, clock: FakeClock, receiver: EventsReceiver
) -> None:
    (pid,) = await make_threads(store, clock, 1)
    receiver.refuse = {(f"promise:{pid}", 2)}
    stopping = asyncio.Event()
    task = asyncio.create_task(relay(store, settings(receiver.url), clock, "r1").run(stopping))
    try:
        # The refusal does not hold the promise's later events back.
        await until(lambda: receiver.sequences().get(f"promise:{pid}") == [1, 3], "1 and 3")
        backlog = await store.event_backlog()
        assert (backlog.pending, backlog.parked) == (0, 1)
        async with store.reading() as conn:
            error = (
                await conn.execute(
                    select(event_outbox.c.last_error).where(event_outbox.c.sequence == 2)
                )
            ).scalar_one()
        assert error == "HTTP 422: unknown promise"

        receiver.refuse = set()
        assert await Reporting(store, clock).requeue_events() == 1  # notifier events requeue
        await until(lambda: receiver.sequences()[f"promise:{pid}"] == [1, 3, 2], "2 again")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert (await store.event_backlog()).parked == 0


async def test_shutdown_ends_within_the_grace_and_gives_the_claims_back(
    store: Store, clock: FakeClock, receiver: EventsReceiver
) -> None:
    await make_threads(store, clock, 2)
    receiver.latency = 60.0  # the receiver hangs
    s = settings(receiver.url, events_timeout=timedelta(seconds=50),
                 shutdown_grace=timedelta(seconds=0.5))  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(relay(store, s, clock, "r1").run(stopping))
    await until(lambda: receiver.requests == 2, "two posts in flight")
    started = time.monotonic()
    stopping.set()
    await asyncio.wait_for(task, 30)
    # The grace, the wrap-up and a loaded machine's margin: far from the 60 s answer.
    assert time.monotonic() - started < 0.5 + 1.0 + 3.0
    async with store.reading() as conn:
        leases = (await conn.execute(select(event_outbox.c.lease_owner))).scalars().all()
    assert set(leases) == {None}  # another replica, or the next start, posts them
    assert (await store.event_backlog()).pending == 6


async def test_a_slow_answer_holds_up_its_own_promise_only(
    store: Store, clock: FakeClock, receiver: EventsReceiver
) -> None:
    pids = await make_threads(store, clock, 10)
    slow = f"promise:{pids[0]}"
    receiver.slow = {slow: 3.0}
    stopping = asyncio.Event()
    task = asyncio.create_task(relay(store, settings(receiver.url), clock, "r1").run(stopping))
    try:
        await until(lambda: len(receiver.accepted) == 30, "all 30 events")
        firsts = [e["stream"] for e in receiver.accepted[:27]]
        assert slow not in firsts  # the other promises went on meanwhile
        check_threads(receiver, pids)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)

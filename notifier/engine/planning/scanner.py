"""The scan: due promises in, outbox rows and new check times out, one transaction a batch.

With replicas, one process plans the due promises at a time: the scan takes its turn
first (``ScanStore.scan_turn``: an advisory lock on PostgreSQL, held for the whole tick
and tried, never waited for) and a replica that finds the turn taken skips the tick. A
lock for the tick, not ``SKIP LOCKED`` claims of the due rows: the ticks stay as fast
as one process's (one extra round trip), a customer's promises are planned together
(consolidation), and no row lock is held by the streamed read while the batch writes
update those rows. ``store/dialects/postgres_cluster.py`` says why in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from notifier.domain.models import CustomerId, PromiseId
from notifier.domain.outbox import DuePromise, PromiseChange, Scheduled
from notifier.domain.rules.model import RuleSet
from notifier.domain.scan import Planned, plan_due, schedule
from notifier.engine.planning.ports import CheckReader, ScanStore

log = structlog.get_logger("notifier.scan")


@dataclass(frozen=True, slots=True)
class ScanReport:
    promises: int = 0
    scheduled: int = 0
    broken: int = 0
    batches: int = 0
    plan_errors: tuple[str, ...] = ()  # the rule at fault ("-": unknown), per failed promise
    skipped: bool = False  # another replica had the turn: this process planned nothing

    def __add__(self, other: ScanReport) -> ScanReport:
        return ScanReport(
            self.promises + other.promises,
            self.scheduled + other.scheduled,
            self.broken + other.broken,
            self.batches + other.batches,
            self.plan_errors + other.plan_errors,
        )


# Planning is pure CPU: yielding now and then lets the write in flight move on meanwhile.
YIELD_EVERY = 100
Upcoming = dict[CustomerId, list[tuple[PromiseId, datetime]]]


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch, planned: what to write."""

    promises: int
    changes: list[PromiseChange]
    scheduled: list[Scheduled]


async def plan_batch(
    store: CheckReader,
    rules: RuleSet,
    now: datetime,
    due: Sequence[DuePromise],
    *,
    consolidation_window: timedelta,
    planned: Upcoming | None = None,
) -> Batch:
    """Decide what each due promise of one batch needs.

    ``planned`` holds the new checks the earlier batches of this tick decided, whether
    or not their writes have landed yet; this batch's are added to it.
    """
    parts: list[Planned] = []
    for i in range(0, len(due), YIELD_EVERY):
        if parts:
            await asyncio.sleep(0)  # let the batch being written hear back from the database
        parts.append(plan_due(due[i : i + YIELD_EVERY], rules, now))
    plan = Planned([c for p in parts for c in p.changes], [n for p in parts for n in p.notices])
    _log_plan_errors(plan.changes)
    stored: Upcoming = {}
    ask = plan.lookahead(now, consolidation_window)
    if ask is not None:
        for cid, checks in (
            await store.next_checks(ask.customer_ids, ask.after, ask.until)
        ).items():
            stored[CustomerId(cid)] = [(PromiseId(pid), at) for pid, at in checks]
    earlier = {} if planned is None else planned
    scheduled = schedule(plan, stored, consolidation_window, now, earlier)
    for cid, own in plan.checks().items():
        earlier.setdefault(cid, []).extend(own)
    return Batch(len(due), plan.changes, scheduled)


def _log_plan_errors(changes: Sequence[PromiseChange]) -> None:
    for change in changes:
        if change.error is not None:
            log.warning(
                "scan.plan_error", promise_id=change.promise.id, rule=change.error.rule,
                error=change.error.reason, failures=change.error.count,
                next_check_at=change.next_check_at.isoformat() if change.next_check_at else None,
            )  # fmt: skip


async def write_batch(store: ScanStore, batch: Batch, now: datetime) -> ScanReport:
    """Write one planned batch in one transaction; return its report."""
    inserted = await store.apply_scan(batch.changes, batch.scheduled, now)
    errors = tuple((c.error.rule or "-") for c in batch.changes if c.error is not None)
    return ScanReport(batch.promises, inserted, sum(c.broken for c in batch.changes), 1, errors)


async def scan(
    store: ScanStore,
    rules: RuleSet,
    now: datetime,
    *,
    batch_size: int = 1000,
    consolidation_window: timedelta = timedelta(minutes=10),
    max_batches: int = 1000,
    in_flight: int | None = None,
    then: Callable[[], Awaitable[int]] | None = None,
) -> ScanReport:
    """Look at every promise due at ``now``, ``batch_size`` at a time, up to ``max_batches``.

    Each batch is written in its own transaction while the next ones are read and planned:
    the database works while Python evaluates rules. Up to ``in_flight`` writes run at
    once: two on PostgreSQL (the batches touch different rows), one on SQLite (one writer).
    When another replica is scanning, return at once, ``skipped``. ``then`` runs in the
    same turn once the promises are planned (the crisis fan-out); what it returns counts
    as scheduled.
    """
    async with store.scan_turn() as ours:
        if not ours:
            return ScanReport(skipped=True)
        report = await _scan(store, rules, now, batch_size, consolidation_window, max_batches,
                             in_flight)  # fmt: skip
        if then is not None:
            report += ScanReport(scheduled=await then())
        return report


async def _scan(
    store: ScanStore,
    rules: RuleSet,
    now: datetime,
    batch_size: int,
    consolidation_window: timedelta,
    max_batches: int,
    in_flight: int | None,
) -> ScanReport:
    if in_flight is None:
        in_flight = store.scan_writes_in_flight
    total = ScanReport()
    planned: Upcoming = {}
    writing: list[asyncio.Task[ScanReport]] = []
    batches = store.due_batches(now, batch_size, batch_size * max_batches)
    try:
        async for due in batches:
            batch = await plan_batch(
                store, rules, now, due, consolidation_window=consolidation_window, planned=planned
            )
            if len(writing) >= in_flight:
                total += await writing.pop(0)
            writing.append(asyncio.create_task(write_batch(store, batch, now)))
        while writing:
            total += await writing.pop(0)
    finally:
        await batches.aclose()
        if writing:  # planning failed: let the writes in flight finish first
            await asyncio.gather(*writing, return_exceptions=True)
    return total

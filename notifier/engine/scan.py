"""The scan: due promises in, outbox rows and new check times out, one transaction a batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from notifier.domain.models import CustomerId, PromiseId
from notifier.domain.notices import Notice
from notifier.domain.outbox import DuePromise, PromiseChange, Scheduled
from notifier.domain.rules.model import RuleSet
from notifier.domain.scan import hold_for_company, plan_promise
from notifier.store.store import Store

log = structlog.get_logger("notifier.scan")


@dataclass(frozen=True, slots=True)
class ScanReport:
    promises: int = 0
    scheduled: int = 0
    broken: int = 0
    batches: int = 0
    plan_errors: tuple[str, ...] = ()  # the rule at fault ("-": unknown), per failed promise

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
    store: Store,
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
    changes: list[PromiseChange] = []
    notices: list[Notice] = []
    for i, d in enumerate(due, 1):
        change, found = plan_promise(d, rules, now)
        if change.error is not None:
            log.warning(
                "scan.plan_error", promise_id=d.promise.id, rule=change.error.rule,
                error=change.error.reason, failures=change.error.count,
                next_check_at=change.next_check_at.isoformat() if change.next_check_at else None,
            )  # fmt: skip
        changes.append(change)
        notices.extend(found)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let the batch being written hear back from the database
    planned = {} if planned is None else planned
    for c in changes:
        # A promise in plan error gives no notice at its next check: nothing waits for it.
        if c.next_check_at is not None and c.error is None:
            planned.setdefault(c.promise.customer_id, []).append((c.promise.id, c.next_check_at))
    upcoming: Upcoming = {}
    if notices:
        customer_ids = list({n.customer_id for n in notices})
        for cid, checks in (
            await store.next_checks(customer_ids, now, now + consolidation_window)
        ).items():
            upcoming[CustomerId(cid)] = [(PromiseId(pid), at) for pid, at in checks]
        for cid in customer_ids:
            upcoming.setdefault(cid, []).extend(planned.get(cid, ()))
    scheduled = hold_for_company(notices, upcoming, consolidation_window, now)
    return Batch(len(due), changes, scheduled)


async def write_batch(store: Store, batch: Batch, now: datetime) -> ScanReport:
    """Write one planned batch in one transaction; return its report."""
    inserted = await store.apply_scan(batch.changes, batch.scheduled, now)
    errors = tuple((c.error.rule or "-") for c in batch.changes if c.error is not None)
    return ScanReport(batch.promises, inserted, sum(c.broken for c in batch.changes), 1, errors)


async def scan(
    store: Store,
    rules: RuleSet,
    now: datetime,
    *,
    batch_size: int = 1000,
    consolidation_window: timedelta = timedelta(minutes=10),
    max_batches: int = 1000,
    in_flight: int | None = None,
) -> ScanReport:
    """Look at every promise due at ``now``, ``batch_size`` at a time, up to ``max_batches``.

    Each batch is written in its own transaction while the next ones are read and planned:
    the database works while Python evaluates rules. Up to ``in_flight`` writes run at
    once: two on PostgreSQL (the batches touch different rows), one on SQLite (one writer).
    """
    if in_flight is None:
        in_flight = 1 if store.is_sqlite else 2
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

"""The scan: due promises in, outbox rows and new check times out, one transaction a batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.models import CustomerId, PromiseId
from notifier.domain.notices import Notice
from notifier.domain.outbox import PromiseChange
from notifier.domain.rules.model import RuleSet
from notifier.domain.scan import hold_for_company, plan_promise
from notifier.store.store import Store


@dataclass(frozen=True, slots=True)
class ScanReport:
    promises: int = 0
    scheduled: int = 0
    broken: int = 0
    batches: int = 0

    def __add__(self, other: ScanReport) -> ScanReport:
        return ScanReport(
            self.promises + other.promises,
            self.scheduled + other.scheduled,
            self.broken + other.broken,
            self.batches + other.batches,
        )


async def scan_batch(
    store: Store,
    rules: RuleSet,
    now: datetime,
    *,
    batch_size: int,
    consolidation_window: timedelta,
) -> ScanReport:
    """Look at one batch of due promises; the report says how many there were."""
    due = await store.due_promises(now, batch_size)
    if not due:
        return ScanReport()
    changes: list[PromiseChange] = []
    notices: list[Notice] = []
    for d in due:
        change, found = plan_promise(d, rules, now)
        changes.append(change)
        notices.extend(found)
    upcoming: dict[CustomerId, list[tuple[PromiseId, datetime]]] = {}
    if notices:
        customer_ids = list({n.customer_id for n in notices})
        for cid, checks in (
            await store.next_checks(customer_ids, now, now + consolidation_window)
        ).items():
            upcoming[CustomerId(cid)] = [(PromiseId(pid), at) for pid, at in checks]
        for c in changes:
            if c.next_check_at is not None:
                upcoming.setdefault(c.promise.customer_id, []).append(
                    (c.promise.id, c.next_check_at)
                )
    scheduled = hold_for_company(notices, upcoming, consolidation_window, now)
    inserted = await store.apply_scan(changes, scheduled, now)
    return ScanReport(len(due), inserted, sum(c.broken for c in changes), 1)


async def scan(
    store: Store,
    rules: RuleSet,
    now: datetime,
    *,
    batch_size: int = 1000,
    consolidation_window: timedelta = timedelta(minutes=10),
    max_batches: int = 1000,
) -> ScanReport:
    """Look at every promise due at ``now``, batch after batch, until none is left."""
    total = ScanReport()
    for _ in range(max_batches):
        report = await scan_batch(
            store, rules, now, batch_size=batch_size, consolidation_window=consolidation_window
        )
        total += report
        if report.promises < batch_size:
            break
    return total

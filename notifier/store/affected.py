"""Who an incident's segment touches, read back as rows: a span of promise ids at a time.

The planner's matcher path (``join_affected`` when SQL cannot decide the segment alone)
and the pre-flight (``preview_affected``) read the affected set through this reader, with
the WHERE clauses of ``store/incident_segments.py``: exact where SQL decides the segment,
else a superset whose rows are tested here with the rules' matcher. Each span is read on
its own short connection, released before the caller gets the batch, so a slow consumer
holds no transaction open and no more than one span's rows are in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from sqlalchemy import func, select

from notifier.domain.incidents import Segment
from notifier.domain.models import Customer, Promise
from notifier.store.base import StoreBase
from notifier.store.convert import customers, promises, to_customer, to_promise
from notifier.store.incident_segments import segment_sql

PREVIEW_SPAN = 5_000  # promise ids per batch the pre-flight reads
_PROMISE_NAMES = tuple(c.name for c in promises.c)
_CUSTOMER_NAMES = tuple(c.name for c in customers.c)
Affected = tuple[Promise, Customer]


def id_spans(low: int, high: int, first: int, widest: int) -> Iterator[tuple[int, int]]:
    """Yield [start, end) spans covering ``low`` to ``high``: ``first`` wide, each next one
    twice as wide, up to ``widest``."""
    start, span = low, first
    while start <= high:
        yield start, start + span
        start += span
        span = min(2 * span, widest)


class AffectedQueries(StoreBase):
    async def promise_id_range(self, after_id: int = 0) -> tuple[int, int] | None:
        """Return the lowest and highest promise ids above ``after_id``; None with none."""
        p = promises.c
        async with self.reading() as conn:
            low, high = (await conn.execute(select(func.min(p.id), func.max(p.id)))).one()
        if low is None or high <= after_id:
            return None
        return max(int(low), after_id + 1), int(high)

    async def segment_rows(
        self, segment: Segment, *, after_id: int = 0, span: int, forgotten: bool = False
    ) -> AsyncIterator[list[Affected]]:
        """Yield the segment's unsettled promises with their customers, ``span`` promise ids
        (of those above ``after_id``) at a time, in id order.

        Forgotten customers are left out (nobody tells them anything) unless ``forgotten``:
        the pre-flight counts them as skipped. A batch may be empty: nothing in its span.
        """
        sql = segment_sql(segment, self.dialect, promises, customers, forgotten=forgotten)
        ids = await self.promise_id_range(after_id)
        if ids is None:
            return
        p = promises.c
        wanted = segment.selects if forgotten else segment.covers
        for start, end in id_spans(*ids, span, span):
            query = (
                select(*promises.c, *(c.label(f"c_{c.name}") for c in customers.c))
                .select_from(promises.join(customers, customers.c.id == p.customer_id))
                .where(p.id >= start, p.id < end, *sql.where)
                .order_by(p.id)
            )
            async with self.reading() as conn:
                rows = (await conn.execute(query)).all()
            batch = to_affected(rows)
            yield batch if sql.exact else [(pr, cu) for pr, cu in batch if wanted(pr, cu)]

    def preview_affected(self, segment: Segment) -> AsyncIterator[list[Affected]]:
        """Yield what the planner would join for ``segment``, forgotten customers too."""
        return self.segment_rows(segment, span=PREVIEW_SPAN, forgotten=True)


def to_affected(rows: Sequence[Any]) -> list[Affected]:
    """Return rows of a promise's columns then its customer's as values; a row that cannot
    be read is left out (the scan reports it)."""
    split = len(_PROMISE_NAMES)
    out: list[Affected] = []
    for r in rows:
        values = tuple(r)
        try:
            promise = to_promise(dict(zip(_PROMISE_NAMES, values[:split], strict=True)))
            customer = to_customer(dict(zip(_CUSTOMER_NAMES, values[split:], strict=True)))
        except Exception:  # a row that cannot be read is the scan's to report: skip it here
            continue
        out.append((promise, customer))
    return out

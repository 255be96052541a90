"""The crisis fan-out: who an incident touches, one row per step for each, and the views
the dispatcher decides with (``domain/crisis.py``).

The affected set is found a span of promise ids at a time, never loaded whole: one
``INSERT ... SELECT`` per span into ``incident_customers`` (once per customer) when SQL
decides the segment alone (``store/incident_segments.py``), else rows narrowed by SQL and
tested with the rules' matcher. A span's newly joined customers get the newest step in the
same transaction, so the first apologies leave while the rest is still being found.
Planning a step for the others is one ``INSERT ... SELECT`` over the joined customers whose
newest planned step is older. The unique dedupe key ``incident:<id>:customer:<id>:update:<n>``
means a second run, a crash or a second replica plans nothing twice.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON as SAJSON
from sqlalchemy import Select, String, bindparam, case, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.crisis import CrisisView, ThreadRow
from notifier.domain.fanout import Joined
from notifier.domain.incidents import (
    CRISIS_FALLBACK,
    OPENED,
    SEVERITY_PRIORITY,
    UNSETTLED,
    Incident,
)
from notifier.domain.models import Customer, CustomerId, NotificationStatus, Promise
from notifier.domain.notices import incident_update_key
from notifier.domain.outbox import Notification, quiet_to_json
from notifier.domain.quiet_hours import QuietHours
from notifier.store.affected import AffectedQueries, id_spans, to_affected
from notifier.store.base import among
from notifier.store.convert import (
    customers,
    incident_customers,
    incidents,
    notifications,
    promises,
)
from notifier.store.dialects import Dialect
from notifier.store.earliest import SEND, announce
from notifier.store.event_writes import report_notifications
from notifier.store.incident_segments import segment_sql
from notifier.store.incidents import with_steps

# Promise ids per set-based join statement (an exact segment), and per batch read and
# tested here (any other): the first span's customers are planned, and their apologies on
# their way, before the next span is read.
JOIN_SPAN = 50_000
JOIN_FIRST = 2_000  # the first span of an exact segment; each next one twice as wide
JOIN_BATCH = 2000
JOINING = -2  # ``planned`` of a customer joined in a transaction not yet committed


class IncidentPlanQueries(AffectedQueries):
    async def incidents_to_plan(self, now: datetime) -> list[Incident]:
        """Return the incidents whose planner look is due (``plan_at`` passed)."""
        i = incidents.c
        async with self.reading() as conn:
            rows = (
                await conn.execute(
                    select(incidents).where(i.plan_at.is_not(None), i.plan_at <= now)
                    .order_by(i.plan_at).limit(100)
                )
            ).mappings().all()  # fmt: skip
            found = await with_steps(conn, rows)
        return [found[r["id"]] for r in rows if r["id"] in found]

    async def earliest_incident_plan(self) -> datetime | None:
        """The earliest ``plan_at`` of any incident; None when none waits for the planner."""
        column = incidents.c.plan_at
        query = select(column).where(column.is_not(None)).order_by(column).limit(1)
        async with self.reading() as conn:
            found: datetime | None = await conn.scalar(query)
        return found

    async def newest_promise_id(self) -> int:
        """The highest promise id there is (0 with none): where a later sweep starts."""
        async with self.reading() as conn:
            found = await conn.scalar(select(func.max(promises.c.id)))
        return int(found or 0)

    async def join_affected(
        self, incident: Incident, quiet: QuietHours | None, now: datetime, after_id: int = 0
    ) -> AsyncIterator[Joined]:
        """Record every customer with an unsettled promise in the segment (of the promises
        with an id above ``after_id``), a span of promise ids at a time, and plan the
        newest step for each one joined anew, in the same transaction; yield per span.

        An exact segment (``store/incident_segments.py``) is one ``INSERT ... SELECT`` per
        span, ``scan_writes_in_flight`` spans at once (PostgreSQL: two; spans hold other
        promises, and a customer in two of them is joined by whichever commits first, the
        other waiting on that key: both insert in customer order, so neither waits for a
        key the other waits on); any other is read ``JOIN_BATCH`` ids at a time
        (``store/affected.py``), narrowed by what SQL can decide, and tested with the rules'
        matcher.
        """
        sql = segment_sql(incident.segment, self.dialect, promises, customers)
        if not sql.exact:
            async for batch in self.segment_rows(
                incident.segment, after_id=after_id, span=JOIN_BATCH
            ):
                found = sorted({str(c.id) for _, c in batch})
                if not found:
                    yield Joined(0, 0)
                    continue
                listed = select(*_joiner(incident.id, now), customers.c.id.label("customer_id"))
                listed = listed.where(self.dialect.among(customers.c.id, found))
                yield await self._join(incident, quiet, now, listed)
            return
        ids = await self.promise_id_range(after_id)
        if ids is None:
            return
        p = promises.c
        joined = promises.join(customers, customers.c.id == p.customer_id)
        in_flight: deque[asyncio.Task[Joined]] = deque()
        try:
            # An exact segment's spans start small and double: the first apologies wait
            # only for the first few thousand promises to be read and planned.
            for start, end in id_spans(*ids, JOIN_FIRST, JOIN_SPAN):
                source = (
                    select(*_joiner(incident.id, now), p.customer_id)
                    .select_from(joined)
                    .where(p.id >= start, p.id < end, *sql.where)
                    .distinct()
                    .order_by(p.customer_id)  # two spans at once take their keys in one order
                )
                in_flight.append(asyncio.create_task(self._join(incident, quiet, now, source)))
                if len(in_flight) >= self.dialect.scan_writes_in_flight:
                    yield await in_flight.popleft()
            while in_flight:
                yield await in_flight.popleft()
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _join(
        self, incident: Incident, quiet: QuietHours | None, now: datetime, source: Select[Any]
    ) -> Joined:
        """Join ``source``'s customers (``incident_id, joined_at, planned, customer_id``)
        and plan the newest step for those joined anew, in one transaction.

        They are inserted as ``JOINING``, which no other transaction ever sees: the step
        is planned for exactly this transaction's joiners, then marked planned.
        """
        ic = incident_customers.c
        step = incident.latest.number
        async with self.transaction() as conn:
            joined = await conn.execute(
                self.dialect.insert(incident_customers)
                .from_select(["incident_id", "joined_at", "planned", "customer_id"], source)
                .on_conflict_do_nothing(index_elements=["incident_id", "customer_id"])
            )
            count = max(joined.rowcount, 0)
            if not count:
                return Joined(0, 0)
            who = (ic.incident_id == incident.id, ic.planned == JOINING)
            ids = await _insert_step(conn, self.dialect, incident, quiet, now, who)
            await conn.execute(update(incident_customers).where(*who).values(planned=step))
            if ids:
                await report_notifications(conn, ids, now)
                await announce(conn, SEND)
        return Joined(count, len(ids))

    async def plan_step(
        self,
        incident: Incident,
        quiet: QuietHours | None,
        now: datetime,
        next_at: datetime | None,
    ) -> int:
        """Write step ``incident.latest`` for every joined customer who lacks it; return rows.

        A resolution goes to customers some step was planned for (the decide step sends
        it only to those told); the others have nothing to close. ``plan_at`` becomes
        ``next_at`` unless a newer step was published meanwhile.
        """
        step = incident.latest
        ic = incident_customers.c
        who = [ic.incident_id == incident.id, ic.planned < step.number, ic.planned != JOINING]
        if step.kind == "resolved":
            who.append(ic.planned >= 0)
        async with self.transaction() as conn:
            ids = await _insert_step(conn, self.dialect, incident, quiet, now, who)
            await conn.execute(update(incident_customers).where(*who).values(planned=step.number))
            i = incidents.c
            await conn.execute(
                update(incidents)
                .where(i.id == incident.id, i.step == step.number)
                .values(plan_at=next_at)
            )
            if ids:
                await report_notifications(conn, ids, now)
                await announce(conn, SEND)
        return len(ids)

    async def crisis_views(self, rows: Sequence[Notification]) -> dict[tuple[int, str], CrisisView]:
        """Return, per (incident, customer) of the incident rows, their thread and promises."""
        pairs = {(n.incident_id, n.customer_id) for n in rows
                 if n.incident_id is not None and n.customer_id is not None}  # fmt: skip
        if not pairs:
            return {}
        iids = sorted({i for i, _ in pairs})
        cids = sorted({str(c) for _, c in pairs})
        async with self.reading() as conn:
            query = select(incidents).where(among(conn, incidents.c.id, iids))
            found = await with_steps(conn, (await conn.execute(query)).mappings().all())
            threads = await _threads(conn, iids, cids)
            unsettled = await _unsettled(conn, cids)
        views: dict[tuple[int, str], CrisisView] = {}
        for iid, cid in pairs:
            inc = found.get(iid)
            if inc is None:
                continue
            affected = tuple(p for p, c in unsettled.get(cid, ()) if inc.segment.covers(p, c))
            views[(iid, cid)] = CrisisView(inc, tuple(threads.get((iid, cid), ())), affected)
        return views


def _joiner(incident_id: int, now: datetime) -> tuple[ColumnElement[Any], ...]:
    ic = incident_customers.c
    return (
        literal(incident_id).label("incident_id"),
        bindparam("joined", now, type_=ic.joined_at.type).label("joined_at"),
        literal(JOINING).label("planned"),
    )


async def _insert_step(
    conn: AsyncConnection,
    dialect: Dialect,
    incident: Incident,
    quiet: QuietHours | None,
    now: datetime,
    who: Sequence[ColumnElement[bool]],
) -> list[int]:
    """Insert step ``incident.latest`` for the joined customers ``who`` selects (the
    opening for one never planned before); return the new rows' ids."""
    step = incident.latest
    ic = incident_customers.c
    prefix, suffix = incident_update_key(incident.id, CustomerId("\0"), step.number).split("\0")
    payload = {"audience": "customer", "quiet_hours": quiet_to_json(quiet),
               "reason": f"update {step.number} of incident {incident.id}"}  # fmt: skip
    message = case((ic.planned < 0, literal(OPENED)), else_=literal(step.message))
    columns = {
        "dedupe_key": literal(prefix) + ic.customer_id + literal(suffix),
        "customer_id": ic.customer_id,
        "incident_id": literal(incident.id),
        "message": cast(message, String),
        "stage": literal("incident"),
        "step": literal(step.number),
        "priority": literal(SEVERITY_PRIORITY[incident.severity.value]),
        "channel_choice": literal("last_used"),
        "fallback": bindparam("fallback", list(CRISIS_FALLBACK), type_=SAJSON),
        "failed_channels": bindparam("failed", [], type_=SAJSON),
        "status": literal(NotificationStatus.PENDING.value),
        "not_before": bindparam("now", now, type_=notifications.c.not_before.type),
        "attempts": literal(0),
        "payload": bindparam("payload", payload, type_=SAJSON),
        "created_at": bindparam("created", now, type_=notifications.c.created_at.type),
        "updated_at": bindparam("updated", now, type_=notifications.c.updated_at.type),
    }
    source = select(*(v.label(k) for k, v in columns.items())).where(*who)
    inserted = await conn.execute(
        dialect.insert(notifications)
        .from_select(list(columns), source)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(notifications.c.id)
    )
    return [r[0] for r in inserted]


async def _threads(
    conn: AsyncConnection, iids: list[int], cids: list[str]
) -> dict[tuple[int, str], list[ThreadRow]]:
    n = notifications.c
    rows = await conn.execute(
        select(n.id, n.incident_id, n.customer_id, n.step, n.message, n.status, n.attempted_at,
               n.lease_owner)
        .where(among(conn, n.incident_id, iids), among(conn, n.customer_id, cids))
    )  # fmt: skip
    out: dict[tuple[int, str], list[ThreadRow]] = {}
    for r in rows:
        out.setdefault((r[1], r[2]), []).append(
            ThreadRow(
                r[0], r[3], r[4], NotificationStatus(r[5]), r[6] is not None, r[7] is not None
            )
        )
    return out


async def _unsettled(
    conn: AsyncConnection, cids: list[str]
) -> dict[str, list[tuple[Promise, Customer]]]:
    p = promises.c
    rows = await conn.execute(
        select(*promises.c, *(c.label(f"c_{c.name}") for c in customers.c))
        .select_from(promises.join(customers, customers.c.id == p.customer_id))
        .where(among(conn, p.customer_id, cids), p.status.in_(list(UNSETTLED)))
        .order_by(p.due_at, p.id)
    )  # fmt: skip
    out: dict[str, list[tuple[Promise, Customer]]] = {}
    for promise, customer in to_affected(rows.all()):
        out.setdefault(str(customer.id), []).append((promise, customer))
    return out

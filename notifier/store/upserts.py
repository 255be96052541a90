"""Promise upserts by external_ref: bulk inserts, changes, reschedules, their events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.ingest import PromiseData, RowError, Upserted
from notifier.domain.ledger import UNSTORED, open_promise, revise
from notifier.domain.models import PromiseEventType, Source
from notifier.store.convert import customers, promise_events, promises, to_promise
from notifier.store.event_writes import report_promises
from notifier.store.retention import purged_among
from notifier.store.revisions import promise_changes, promise_row


async def upsert_promises(
    conn: AsyncConnection, items: Sequence[PromiseData], source: Source, now: datetime
) -> list[Upserted | RowError]:
    """Insert new promises and update changed ones by external_ref; one outcome each."""
    refs = list({p.external_ref for p in items})
    existing = {
        r["external_ref"]: dict(r)
        for r in (await conn.execute(select(promises).where(promises.c.external_ref.in_(refs))))
        .mappings()
        .all()
    }
    # A ref purged under the retention would come back as a new promise, notified again.
    purged = await purged_among(conn, [r for r in refs if r not in existing])
    cust_ids = list({p.customer_id for p in items})
    known = {
        r[0] for r in await conn.execute(select(customers.c.id).where(customers.c.id.in_(cust_ids)))
    }
    results: list[Upserted | RowError] = []
    fresh: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for item in items:
        if item.customer_id not in known:
            results.append(RowError("customer_id", f"unknown customer {item.customer_id!r}"))
            continue
        if item.external_ref in purged:
            results.append(RowError("external_ref", _PURGED.format(ref=item.external_ref)))
            continue
        current = existing.get(item.external_ref)
        if current is None:
            row = _new_promise(item, now)
            fresh.append(row)
            existing[item.external_ref] = row
            results.append(Upserted(item.external_ref, created=True, changed=True))
            continue
        outcome = _update_from(current, item, now, events, source)
        if isinstance(outcome, RowError):
            results.append(outcome)
            continue
        if outcome and "id" in current:
            await conn.execute(
                update(promises).where(promises.c.id == current["id"]).values(outcome)
            )
        current.update(outcome)
        results.append(
            Upserted(
                item.external_ref, changed=bool(outcome), rescheduled="deadline_version" in outcome
            )
        )
    if fresh:
        await _insert_fresh(conn, fresh, events, source, now)
    for event in events:
        ref = event.pop("_ref", None)
        if event["promise_id"] is None:
            event["promise_id"] = existing[ref]["id"]
    if events:
        await conn.execute(promise_events.insert(), events)
        await report_promises(conn, events, now)
    # Report ids, not refs, now that every row has one.
    ids = {ref: row["id"] for ref, row in existing.items()}
    return [
        Upserted(ids[str(r.id)], r.created, r.changed, r.rescheduled)
        if isinstance(r, Upserted)
        else r
        for r in results
    ]


_PURGED = (
    "external_ref {ref!r} names a promise settled and purged under NOTIFIER_RETENTION; "
    "it is not notified again: give a new external_ref for a new promise"
)


def _new_promise(item: PromiseData, now: datetime) -> dict[str, Any]:
    return promise_row(open_promise(item, now))


async def _insert_fresh(
    conn: AsyncConnection,
    fresh: list[dict[str, Any]],
    events: list[dict[str, Any]],
    source: Source,
    now: datetime,
) -> None:
    # A row inserted then changed again within the same batch carries its final values.
    ids = (
        await conn.execute(
            promises.insert().returning(promises.c.id, promises.c.external_ref),
            fresh,
        )
    ).all()
    by_ref = {ref: pid for pid, ref in ids}
    created = []
    for row in fresh:
        row["id"] = by_ref[row["external_ref"]]
        created.append(
            {
                "promise_id": row["id"],
                "type": PromiseEventType.CREATED.value,
                "at": now,
                "source": source.value,
                "deadline_version": 1,
                "data": {"due_at": row["due_at"].isoformat()},
            }
        )
    # The creation comes first in the timeline, before changes made later in the batch.
    events[:0] = created


def _update_from(
    current: dict[str, Any],
    item: PromiseData,
    now: datetime,
    events: list[dict[str, Any]],
    source: Source,
) -> dict[str, Any] | RowError:
    # A row created earlier in this batch has no id yet: the rules do not look at it.
    before = to_promise(current if "id" in current else {**current, "id": UNSTORED})
    revision = revise(before, item, now)
    if isinstance(revision, RowError):
        return revision
    if revision.event is not None:
        events.append(
            {
                "promise_id": current.get("id"),
                "_ref": current["external_ref"],
                "type": revision.event.value,
                "at": now,
                "source": source.value,
                "deadline_version": revision.promise.deadline_version,
                "data": revision.data,
            }
        )
    return promise_changes(before, revision.promise)

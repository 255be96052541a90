"""Promise upserts by external_ref: bulk inserts, changes, reschedules, their events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.ingest import PromiseData, RowError, Upserted
from notifier.domain.models import PromiseEventType, PromiseStatus, Source
from notifier.store.convert import customers, promise_events, promises

_EDITABLE = ("kind", "window_start", "estimate_at", "attributes")
# An edit re-arms the check and forgets the scan's plan errors: the values it failed on
# may be the ones just fixed.
REARM = {"plan_errors": 0, "plan_error": None}


def reschedule_values(
    row: dict[str, Any], due_at: datetime, window_start: datetime | None, now: datetime
) -> dict[str, Any]:
    if row["due_at"] == due_at and row["window_start"] == window_start:
        return {}
    return {
        "due_at": due_at,
        "window_start": window_start,
        "deadline_version": row["deadline_version"] + 1,
        "times_broken": row["times_broken"] + 1,
        "status": PromiseStatus.OPEN.value,
        "status_changed_at": now,
        "updated_at": now,
        "next_check_at": now,
        **REARM,
    }


def reschedule_data(
    row: dict[str, Any], due_at: datetime, window_start: datetime | None
) -> dict[str, Any]:
    return {
        "old_due_at": row["due_at"].isoformat(),
        "new_due_at": due_at.isoformat(),
        "old_window_start": row["window_start"].isoformat() if row["window_start"] else None,
        "new_window_start": window_start.isoformat() if window_start else None,
    }


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
            Upserted(item.external_ref, changed=bool(outcome), rescheduled="due_at" in outcome)
        )
    if fresh:
        await _insert_fresh(conn, fresh, events, source, now)
    for event in events:
        ref = event.pop("_ref", None)
        if event["promise_id"] is None:
            event["promise_id"] = existing[ref]["id"]
    if events:
        await conn.execute(promise_events.insert(), events)
    # Report ids, not refs, now that every row has one.
    ids = {ref: row["id"] for ref, row in existing.items()}
    return [
        Upserted(ids[str(r.id)], r.created, r.changed, r.rescheduled)
        if isinstance(r, Upserted)
        else r
        for r in results
    ]


def _new_promise(item: PromiseData, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": item.customer_id,
        "kind": item.kind,
        "status": PromiseStatus.OPEN.value,
        "due_at": item.due_at,
        "window_start": item.window_start,
        "estimate_at": item.estimate_at,
        "attributes": dict(item.attributes),
        "external_ref": item.external_ref,
        "deadline_version": 1,
        "times_broken": 0,
        "next_check_at": now,
        "status_changed_at": now,
        "created_at": now,
        "updated_at": now,
    }


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
    if current["customer_id"] != item.customer_id:
        return RowError(
            "customer_id",
            f"external_ref {item.external_ref!r} belongs to customer {current['customer_id']!r}",
        )
    changes: dict[str, Any] = {}
    for key in _EDITABLE:
        value = getattr(item, key)
        if key == "attributes":
            value = dict(value)
        if current[key] != value:
            changes[key] = value
    settled = current["status"] in (PromiseStatus.KEPT.value, PromiseStatus.CANCELLED.value)
    moved = reschedule_values(current, item.due_at, item.window_start, now) if not settled else {}
    if moved:
        data = reschedule_data(current, item.due_at, item.window_start)
        changes.update(moved)
        _queue_event(events, current, PromiseEventType.RESCHEDULED, now, source, moved, data)
    elif changes:
        changes.update(updated_at=now, next_check_at=now)
        fields = sorted(changes)
        changes.update(REARM)
        _queue_event(events, current, PromiseEventType.UPDATED, now, source, {}, {"fields": fields})
    return changes


def _queue_event(
    events: list[dict[str, Any]],
    current: dict[str, Any],
    type_: PromiseEventType,
    now: datetime,
    source: Source,
    changes: dict[str, Any],
    data: dict[str, Any],
) -> None:
    events.append(
        {
            "promise_id": current.get("id"),
            "_ref": current["external_ref"],
            "type": type_.value,
            "at": now,
            "source": source.value,
            "deadline_version": changes.get("deadline_version", current["deadline_version"]),
            "data": data,
        }
    )

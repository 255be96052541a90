"""Incidents: opened, updated, paused and resolved in one transaction each, and read back.

Each change writes its history line (``incident_updates``) and, when customers are to
hear of it, sets ``plan_at`` and announces a check: the daemon's planner
(``store/incident_plans.py``) fans it out within a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.crisis import PAUSED, WAITING
from notifier.domain.errors import NotFoundError
from notifier.domain.incidents import (
    OPEN,
    HistoryEntry,
    Incident,
    IncidentConflictError,
    NewIncident,
    Severity,
    Step,
    check_channels,
    segment_of,
)
from notifier.domain.models import IncidentStatus, NotificationStatus
from notifier.store.base import StoreBase, among
from notifier.store.convert import incident_updates, incidents, notifications
from notifier.store.dialects import dialect_of
from notifier.store.earliest import CHECK, SEND, announce


class IncidentQueries(StoreBase):
    async def open_incident(self, new: NewIncident, now: datetime) -> int:
        """Write a new incident and its opening (step 0); return its id."""
        async with self.transaction() as conn:
            return await insert_incident(conn, new, now)

    async def publish_step(
        self,
        incident_id: int,
        *,
        resolve: bool,
        status: IncidentStatus | None,
        messages: Mapping[str, str],
        estimate_at: datetime | None,
        keep_estimate: bool,
        by: str,
        now: datetime,
        default_locale: str,
    ) -> int:
        """Publish the next customer-facing step (an update, or the resolution); return it."""
        async with self.transaction() as conn:
            row = await _locked(conn, incident_id)
            if row["status"] not in OPEN:
                raise IncidentConflictError(
                    f"incident {incident_id} is {row['status']}: nothing to update"
                )
            previous = await conn.scalar(
                select(incident_updates.c.estimate_at)
                .where(incident_updates.c.incident_id == incident_id,
                       incident_updates.c.step == row["step"])
            )  # fmt: skip
            step = row["step"] + 1
            new_status = IncidentStatus.RESOLVED if resolve else (status or row["status"])
            estimate = previous if keep_estimate else estimate_at
            kind = "resolved" if resolve else "update"
            await _history(conn, incident_id, kind, step, str(new_status), messages, estimate,
                           by, now, default_locale)  # fmt: skip
            values: dict[str, Any] = {"step": step, "status": str(new_status), "updated_at": now}
            if resolve:
                values["resolved_at"] = now
            if not row["awaiting_confirmation"]:
                values["plan_at"] = now
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(values)
            )
            await announce(conn, CHECK)
        return int(step)

    async def pause_incident(self, incident_id: int, paused: bool, by: str, now: datetime) -> None:
        """Pause (the kill switch) or resume an incident's fan-out; resume sends at once."""
        async with self.transaction() as conn:
            row = await _locked(conn, incident_id)
            if bool(row["paused_at"]) == paused:
                state = "paused already" if paused else "not paused"
                raise IncidentConflictError(f"incident {incident_id} is {state}")
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id)
                .values(paused_at=now if paused else None, updated_at=now)
            )  # fmt: skip
            await _history(conn, incident_id, "paused" if paused else "resumed", None,
                           row["status"], {}, None, by, now, "")  # fmt: skip
            if not paused:
                await _release(conn, incident_id, PAUSED, now)

    async def confirm_incident(self, incident_id: int, by: str, now: datetime) -> None:
        """Let a proposed incident notify its customers."""
        async with self.transaction() as conn:
            row = await _locked(conn, incident_id)
            if not row["awaiting_confirmation"]:
                raise IncidentConflictError(f"incident {incident_id} needs no confirmation")
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id)
                .values(awaiting_confirmation=False, plan_at=now, updated_at=now)
            )  # fmt: skip
            await _history(conn, incident_id, "confirmed", None, row["status"], {}, None, by,
                           now, "")  # fmt: skip
            await _release(conn, incident_id, WAITING, now)
            await announce(conn, CHECK)

    async def dismiss_incident(self, incident_id: int, by: str, now: datetime) -> None:
        """Record that a proposed incident is none: nobody is told."""
        async with self.transaction() as conn:
            row = await _locked(conn, incident_id)
            if row["status"] not in OPEN or not row["awaiting_confirmation"]:
                raise IncidentConflictError(
                    f"incident {incident_id} is not waiting for confirmation: "
                    "resolve it instead (its customers get the resolution)"
                )
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id)
                .values(status=IncidentStatus.DISMISSED.value, plan_at=None, updated_at=now,
                        resolved_at=now)
            )  # fmt: skip
            await _history(conn, incident_id, "dismissed", None, "dismissed", {}, None, by,
                           now, "")  # fmt: skip

    async def incident(self, incident_id: int) -> Incident:
        """Return the incident; raises NotFoundError."""
        found = await self.incidents_by_id([incident_id])
        if incident_id not in found:
            raise NotFoundError(f"no incident {incident_id}")
        return found[incident_id]

    async def incidents_by_id(self, ids: Sequence[int]) -> dict[int, Incident]:
        """Return the incidents of ``ids`` that exist."""
        if not ids:
            return {}
        async with self.reading() as conn:
            rows = (await conn.execute(select(incidents).where(
                among(conn, incidents.c.id, sorted(set(ids)))))).mappings().all()  # fmt: skip
            return await with_steps(conn, rows)

    async def list_incidents(self, *, open_only: bool = False) -> list[Incident]:
        """Return the incidents, newest first (the open ones only, with ``open_only``)."""
        query = select(incidents).order_by(incidents.c.id.desc())
        if open_only:
            query = query.where(incidents.c.status.in_([s.value for s in OPEN]))
        async with self.reading() as conn:
            rows = (await conn.execute(query)).mappings().all()
            found = await with_steps(conn, rows)
        return [found[r["id"]] for r in rows if r["id"] in found]

    async def incident_history(self, incident_id: int) -> list[HistoryEntry]:
        """Return the incident's history, oldest first."""
        u = incident_updates.c
        async with self.reading() as conn:
            rows = await conn.execute(
                select(incident_updates).where(u.incident_id == incident_id).order_by(u.id)
            )
            return [
                HistoryEntry(r["at"], r["kind"], r["by"], r["step"], r["status"],
                             dict(r["messages"] or {}), r["estimate_at"])
                for r in rows.mappings()
            ]  # fmt: skip


async def insert_incident(conn: AsyncConnection, new: NewIncident, now: datetime) -> int:
    """Write a new incident and its opening (step 0) in ``conn``'s transaction; return its id.

    With a ``source``, only the first: a second raises IncidentConflictError.
    """
    segment_of(new.segment)  # refuses a segment the matcher cannot read
    check_channels(new.updates_on)
    title = _default_text(new.titles, new.default_locale)
    if new.source is not None:  # the unique index backs this; here it is worded
        found = await conn.scalar(select(incidents.c.id).where(incidents.c.source == new.source))
        if found is not None:
            raise IncidentConflictError(f"incident {found} was opened for {new.source} already")
    iid = await conn.scalar(
        incidents.insert()
        .values(
            source=new.source, title=title[:200], titles=dict(new.titles), status="investigating",
            severity=new.severity.value, selector=dict(new.segment), opened_by=new.by,
            through_quiet_hours=new.through_quiet_hours,
            updates_on=list(new.updates_on), paused_at=None, detected=new.detected,
            awaiting_confirmation=new.awaiting_confirmation, step=0,
            plan_at=None if new.awaiting_confirmation else now,
            created_at=now, updated_at=now, resolved_at=None,
        )
        .returning(incidents.c.id)
    )  # fmt: skip
    assert iid is not None
    await _history(conn, iid, "opened", 0, "investigating", new.messages,
                   new.estimate_at, new.by, now, new.default_locale)  # fmt: skip
    await announce(conn, CHECK)
    return int(iid)


def _default_text(texts: Mapping[str, str], locale: str) -> str:
    return texts.get(locale) or next(iter(texts.values()), "")


async def _locked(conn: AsyncConnection, incident_id: int) -> Any:
    query = select(incidents).where(incidents.c.id == incident_id)
    # Locked to the commit on PostgreSQL; SQLite's IMMEDIATE transaction has one writer.
    row = (await conn.execute(dialect_of(conn).locked(query))).mappings().first()
    if row is None:
        raise NotFoundError(f"no incident {incident_id}")
    return row


async def _history(
    conn: AsyncConnection,
    incident_id: int,
    kind: str,
    step: int | None,
    status: str,
    messages: Mapping[str, str],
    estimate_at: datetime | None,
    by: str,
    now: datetime,
    default_locale: str,
) -> None:
    await conn.execute(
        incident_updates.insert().values(
            incident_id=incident_id, kind=kind, step=step, status=status,
            body=_default_text(messages, default_locale), messages=dict(messages),
            estimate_at=estimate_at, by=by[:128], at=now,
        )
    )  # fmt: skip


async def _release(conn: AsyncConnection, incident_id: int, code: str, now: datetime) -> None:
    """Bring an incident's held rows back now (resume, confirm)."""
    n = notifications.c
    await conn.execute(
        update(notifications)
        .where(n.incident_id == incident_id, n.status == NotificationStatus.PENDING.value,
               n.error_code == code)
        .values(not_before=now, error_code=None, error=None, updated_at=now)
    )  # fmt: skip
    await announce(conn, SEND)


async def with_steps(conn: AsyncConnection, rows: Sequence[Any]) -> dict[int, Incident]:
    if not rows:
        return {}
    u = incident_updates.c
    steps: dict[int, list[Step]] = {}
    found = await conn.execute(
        select(u.incident_id, u.step, u.kind, u.status, u.messages, u.estimate_at, u.at)
        .where(among(conn, u.incident_id, [r["id"] for r in rows]), u.step.is_not(None))
        .order_by(u.incident_id, u.step)
    )
    for r in found.mappings():
        steps.setdefault(r["incident_id"], []).append(
            Step(
                r["step"],
                _step_kind(r["kind"]),
                IncidentStatus(r["status"]),
                dict(r["messages"] or {}),
                r["estimate_at"],
                r["at"],
            )
        )
    return {r["id"]: to_incident(r, tuple(steps.get(r["id"], ()))) for r in rows}


def _step_kind(kind: str) -> Any:
    return kind if kind in ("opened", "update", "resolved") else "update"


def to_incident(r: Any, steps: tuple[Step, ...]) -> Incident:
    """Return the domain incident for an ``incidents`` row and its steps."""
    return Incident(
        id=int(r["id"]), titles=dict(r["titles"] or {}),
        severity=Severity(r["severity"]), segment=segment_of(r["selector"] or {}),
        status=IncidentStatus(r["status"]), opened_at=r["created_at"],
        opened_by=r["opened_by"], steps=steps,
        through_quiet_hours=bool(r["through_quiet_hours"]),
        updates_on=check_channels(r["updates_on"] or []), paused=r["paused_at"] is not None,
        detected=bool(r["detected"]), awaiting_confirmation=bool(r["awaiting_confirmation"]),
        resolved_at=r["resolved_at"], plan_at=r["plan_at"], changed_at=r["updated_at"],
    )  # fmt: skip

"""Planned maintenance, in the scan's turn: each window's incident opened at its start and
resolved at its end (``domain/maintenance.py`` decides; this does it).

The scan's turn is one replica's at a time, and an incident's ``source``
(``maintenance:<id>``) is unique: whichever replica, restart or second run looks, a
window opens one incident at most. It runs before the planner, so an incident opened
here is fanned out in the same turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from notifier.domain.errors import one_line
from notifier.domain.incidents import NewIncident
from notifier.domain.maintenance import Maintenance, Move, maintenance_moves
from notifier.engine.crisis.ports import MaintenanceStore

log = structlog.get_logger("notifier.maintenance")


@dataclass
class MaintenanceRunner:
    store: MaintenanceStore
    default_locale: str = "es"
    _missed: set[str] = field(default_factory=set)  # logged once by this process

    async def run(self, windows: Sequence[Maintenance], now: datetime) -> int:
        """Open, move and resolve what is due at ``now``; return how many changed.

        Never raises: a failure is logged, and the next scan tries again.
        """
        try:
            found = await self.store.maintenance_incidents([m.source for m in windows])
        except Exception as exc:
            log.error("maintenance.read_failed", error=one_line(exc))
            return 0
        done = 0
        for move in maintenance_moves(windows, {o.source: o for o in found}, now):
            try:
                done += await self._do(move, now)
            except Exception as exc:  # this window alone: the others still go
                log.error("maintenance.failed", source=move.source, move=move.kind,
                          incident_id=move.incident_id, error=one_line(exc))  # fmt: skip
        return done

    async def _do(self, move: Move, now: datetime) -> int:
        m = move.maintenance
        if move.kind == "missed":
            assert m is not None
            if move.source not in self._missed:
                self._missed.add(move.source)
                log.warning("maintenance.missed", source=move.source, start=m.start.isoformat(),
                            end=m.end.isoformat())  # fmt: skip
            return 0
        if move.kind == "open":
            assert m is not None
            return await self._open(m, now)
        assert move.incident_id is not None
        resolve = move.kind == "resolve"
        texts = (m.resolved if resolve else m.updated) if m is not None else None
        step = await self.store.publish_step(
            move.incident_id, resolve=resolve, status=None, messages=dict(texts or {}),
            estimate_at=None if resolve or m is None else m.end, keep_estimate=resolve,
            by=move.source, now=now, default_locale=self.default_locale,
        )  # fmt: skip
        event = "maintenance.resolved" if resolve else "maintenance.rescheduled"
        log.info(event, source=move.source, incident_id=move.incident_id, step=step,
                 removed=m is None, end=None if m is None else m.end.isoformat())  # fmt: skip
        return 1

    async def _open(self, m: Maintenance, now: datetime) -> int:
        new = NewIncident(
            titles=m.titles, severity=m.severity, segment=m.segment, messages=dict(m.opened or {}),
            estimate_at=m.end, by=m.source, through_quiet_hours=m.passes_quiet_hours,
            updates_on=m.updates_on, default_locale=self.default_locale, source=m.source,
        )  # fmt: skip
        iid = await self.store.open_incident(new, now)
        late = max(0.0, (now - m.start).total_seconds())
        log.info("maintenance.opened", source=m.source, incident_id=iid, late_seconds=late,
                 end=m.end.isoformat())  # fmt: skip
        return 1

"""The fan-out: each incident due a look gets its newly affected customers joined and its
newest step planned for everyone who lacks it (``store/incident_plans.py``).

It runs in the scan's turn (one replica at a time), after the promises are planned, so
a promise the scan just broke is already ``broken`` here. An open incident is looked at
again every ``SWEEP`` for customers who became affected since (a new promise matching the
segment); a resolved one once, to plan its resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from notifier.domain.errors import one_line
from notifier.domain.quiet_hours import QuietAction, QuietHours
from notifier.engine.crisis.ports import IncidentPlanStore

log = structlog.get_logger("notifier.crisis")
SWEEP = timedelta(seconds=30)
FULL_SWEEP = timedelta(minutes=10)


@dataclass
class Sweeps:
    """What this process's last sweeps of each open incident read, so the next reads less.

    A sweep between full ones reads only promises newer than the last sweep's newest (a
    new promise matching the segment is the usual way to become affected); every
    ``FULL_SWEEP`` one reads them all, and so catches a promise whose attributes or
    customer changed, or one committed after a newer one was read. A replica without
    this memory (just started, or taking over the scan) sweeps in full: never less.
    """

    seen: dict[int, tuple[int, datetime]] = field(default_factory=dict)  # id: (newest, full)

    def after(self, incident_id: int, now: datetime) -> int:
        """The promise id this sweep starts after: 0 for a full one."""
        found = self.seen.get(incident_id)
        return 0 if found is None or now - found[1] >= FULL_SWEEP else found[0]

    def swept(self, incident_id: int, newest: int, after: int, now: datetime) -> None:
        full = self.seen.get(incident_id, (0, now))[1] if after else now
        self.seen[incident_id] = (newest, full)


async def plan_incidents(
    store: IncidentPlanStore,
    now: datetime,
    quiet: QuietHours | None,
    sweeps: Sweeps | None = None,
) -> int:
    """Plan every incident due a look; return the rows written. One failing stays alone.

    ``quiet`` is the customers' quiet hours (the rules' default): crisis messages wait
    them out (never dropped) unless the incident passes them (critical, by default).
    ``sweeps`` (the daemon's) lets a sweep read only newer promises; without, all.
    """
    written = 0
    for incident in await store.incidents_to_plan(now):
        try:
            joined, rows = 0, 0
            quiet_for = crisis_quiet_hours(quiet, incident.through_quiet_hours)
            if incident.is_open:  # each span's newly affected are planned as they join
                after = 0 if sweeps is None else sweeps.after(incident.id, now)
                newest = await store.newest_promise_id()
                async for span in store.join_affected(incident, quiet_for, now, after):
                    joined, rows = joined + span.customers, rows + span.rows
                if sweeps is not None:
                    sweeps.swept(incident.id, newest, after, now)
            elif sweeps is not None:
                sweeps.seen.pop(incident.id, None)
            next_at = now + SWEEP if incident.is_open else None
            rows += await store.plan_step(incident, quiet_for, now, next_at)
        except Exception as exc:  # its plan_at stays: the next scan tries again
            log.error("crisis.plan_failed", incident_id=incident.id, error=one_line(exc))
            continue
        written += rows
        if joined or rows:
            log.info("crisis.planned", incident_id=incident.id, step=incident.latest.number,
                     joined=joined, rows=rows)  # fmt: skip
    return written


def crisis_quiet_hours(quiet: QuietHours | None, through: bool) -> QuietHours | None:
    """Return the quiet hours an incident's messages keep: they wait them out (never
    dropped), or none when the incident passes them (``through``)."""
    if quiet is None or through:
        return None
    return QuietHours(quiet.start, quiet.end, QuietAction.DEFER)

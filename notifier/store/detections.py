"""Crisis detection's state in the database: each rule's groups, firing once, telling ops.

The counts are ``detection_counts.py``'s. The state (``crisis_detections``) has one row
per rule and group that holds or has fired; firing locks that row, so two replicas (or a
restart mid-way) propose one incident, and ``incident_detections`` is unique per rule,
group and episode besides. A scan on which nothing holds and nothing waits to stop or to
re-arm writes nothing: it only reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.detection import (
    CrisisRule,
    Detection,
    Example,
    Fired,
    Numbers,
    covers,
    group_key,
    numbers_from_json,
    segment_spec,
)
from notifier.domain.incidents import OPEN, NewIncident
from notifier.domain.models import JSONValue
from notifier.store.base import StoreBase
from notifier.store.convert import crisis_detections, incident_detections, incidents
from notifier.store.incidents import insert_incident

_OPEN = [s.value for s in OPEN]


class DetectionQueries(StoreBase):
    async def step_detections(
        self, rule: CrisisRule, held: Mapping[tuple[str, ...], Numbers], now: datetime
    ) -> list[tuple[str, ...]]:
        """Record which groups hold now; return those that held for ``for`` and may fire."""
        d = crisis_detections.c
        keys = [group_key(v) for v in held]
        if not held:
            async with self.reading() as conn:
                params = {"rule_id": rule.id, "calm_since": now - rule.window}
                if not await conn.scalar(_WAITING, params):
                    return []
        async with self.transaction() as conn:
            for values, numbers in held.items():
                key = group_key(values)
                await conn.execute(
                    self.dialect.insert(crisis_detections).values(
                        rule_id=rule.id, group_key=key, group_values=list(values),
                        holding_since=now, false_since=None, armed=True, episode=0,
                        incident_id=None, numbers=numbers.to_json(), updated_at=now,
                    ).on_conflict_do_nothing()
                )  # fmt: skip
                await conn.execute(
                    update(crisis_detections)
                    .where(d.rule_id == rule.id, d.group_key == key)
                    .values(holding_since=func.coalesce(d.holding_since, now), false_since=None,
                            numbers=numbers.to_json(), updated_at=now)
                )  # fmt: skip
            await _stopped(conn, rule.id, keys, now)
            await _rearm(conn, rule, now)
            ready = await conn.execute(
                select(d.group_values).where(
                    d.rule_id == rule.id, d.armed.is_(True), d.holding_since <= now - rule.hold
                )
            )
            return [tuple(str(v) for v in r[0]) for r in ready]

    async def fire_detection(
        self,
        rule: CrisisRule,
        values: Sequence[str],
        examples: Sequence[Example],
        new: NewIncident,
        now: datetime,
    ) -> Fired | None:
        """Propose ``new`` for the group (or attach to an open incident covering it), once.

        None when the group no longer may fire: another replica fired it meanwhile, or it
        stopped holding. The group's row is locked to the commit.
        """
        d = crisis_detections.c
        key = group_key(values)
        async with self.transaction() as conn:
            query = select(crisis_detections).where(d.rule_id == rule.id, d.group_key == key)
            row = (await conn.execute(self.dialect.locked(query))).mappings().first()
            if row is None or not row["armed"] or row["holding_since"] is None:
                return None
            if row["holding_since"] > now - rule.hold:
                return None
            spec = segment_spec(rule, values)
            covering = await _covering(conn, spec)
            attached = covering is not None
            iid = covering if covering is not None else await insert_incident(conn, new, now)
            episode = int(row["episode"]) + 1
            numbers: dict[str, JSONValue] = dict(row["numbers"] or {})
            numbers["group"] = dict(zip(rule.group_by, values, strict=True))
            await conn.execute(
                incident_detections.insert().values(
                    incident_id=iid, rule_id=rule.id, group_key=key, episode=episode,
                    kind="attached" if attached else "proposed", segment=spec, numbers=numbers,
                    examples=[{"id": e.id, "ref": e.ref} for e in examples], at=now,
                    no_longer_holds_since=None, told_ops=False,
                )
            )  # fmt: skip
            await conn.execute(
                update(crisis_detections)
                .where(d.rule_id == rule.id, d.group_key == key)
                .values(armed=False, episode=episode, incident_id=iid, updated_at=now)
            )
            return Fired(iid, attached)

    async def detections_untold(self) -> list[Detection]:
        """Return the detections ops have not been told of yet (oldest first)."""
        async with self.reading() as conn:
            rows = (await conn.execute(_UNTOLD)).mappings()
            return [_detection(r) for r in rows]

    async def mark_told(self, ids: Sequence[int]) -> None:
        """Record that ops were told of these detections."""
        if not ids:
            return
        async with self.transaction() as conn:
            await conn.execute(
                update(incident_detections)
                .where(incident_detections.c.id.in_(list(ids)))
                .values(told_ops=True)
            )

    async def incident_detections(self, incident_id: int) -> list[Detection]:
        """Return what crisis rules found for the incident, oldest first."""
        i = incident_detections.c
        query = select(incident_detections).where(i.incident_id == incident_id).order_by(i.id)
        async with self.reading() as conn:
            return [_detection(r) for r in (await conn.execute(query)).mappings()]


async def _stopped(conn: AsyncConnection, rule_id: str, held: list[str], now: datetime) -> None:
    """Mark the groups that held and hold no more; a proposal waiting says since when."""
    d, i = crisis_detections.c, incident_detections.c
    stopped = and_(d.rule_id == rule_id, d.holding_since.is_not(None))
    if held:
        stopped = and_(stopped, d.group_key.not_in(held))
    rows = (await conn.execute(select(d.group_key, d.episode).where(stopped))).all()
    if not rows:
        return
    await conn.execute(
        update(crisis_detections)
        .where(stopped)
        .values(holding_since=None, false_since=now, updated_at=now)
    )
    for key, episode in rows:
        await conn.execute(
            update(incident_detections)
            .where(i.rule_id == rule_id, i.group_key == key, i.episode == episode,
                   i.no_longer_holds_since.is_(None))
            .values(no_longer_holds_since=now)
        )  # fmt: skip
    if held:  # holding again: the waiting proposal holds too
        await conn.execute(
            update(incident_detections)
            .where(i.rule_id == rule_id, i.group_key.in_(held),
                   i.no_longer_holds_since.is_not(None))
            .values(no_longer_holds_since=None)
        )  # fmt: skip


def _rearmable(rule_id: Any, calm_since: Any) -> ColumnElement[bool]:
    """A group whose incident is over and whose condition was false since ``calm_since``
    (a whole window before now) or earlier."""
    d = crisis_detections.c
    still_open = exists().where(incidents.c.id == d.incident_id, incidents.c.status.in_(_OPEN))
    return and_(d.rule_id == rule_id, d.holding_since.is_(None), d.armed.is_(False),
                d.false_since <= calm_since, ~still_open)  # fmt: skip


# Built once: asked on every scan on which no group holds, whether anything is to record
# (a group that held until now stops, or one may re-arm). Most scans then write nothing.
_WAITING = select(
    exists().where(
        or_(
            and_(crisis_detections.c.rule_id == bindparam("rule_id"),
                 crisis_detections.c.holding_since.is_not(None)),
            _rearmable(bindparam("rule_id"), bindparam("calm_since")),
        )
    )
)  # fmt: skip
_UNTOLD = (
    select(incident_detections)
    .where(incident_detections.c.told_ops.is_(False))
    .order_by(incident_detections.c.id)
)


async def _rearm(conn: AsyncConnection, rule: CrisisRule, now: datetime) -> None:
    """Let a group fire again once its incident is over and it was false a whole window."""
    d = crisis_detections.c
    quiet = and_(d.rule_id == rule.id, d.holding_since.is_(None))
    await conn.execute(
        update(crisis_detections)
        .where(_rearmable(rule.id, now - rule.window))
        .values(armed=True, updated_at=now)
    )
    # An armed group that does not hold and never fired carries nothing worth keeping (one
    # that fired keeps its episode count: the next episode is a new one).
    await conn.execute(delete(crisis_detections).where(quiet, d.armed.is_(True), d.episode == 0))


async def _covering(conn: AsyncConnection, spec: Mapping[str, JSONValue]) -> int | None:
    """Return the oldest open incident whose segment covers ``spec``, or None."""
    rows = await conn.execute(
        select(incidents.c.id, incidents.c.selector)
        .where(incidents.c.status.in_(_OPEN))
        .order_by(incidents.c.id)
    )
    return next((int(r[0]) for r in rows if covers(dict(r[1] or {}), spec)), None)


def _detection(r: Any) -> Detection:
    numbers = dict(r["numbers"] or {})
    group = numbers.get("group")
    return Detection(
        id=int(r["id"]), incident_id=int(r["incident_id"]), rule_id=r["rule_id"],
        group={str(k): str(v) for k, v in group.items()} if isinstance(group, dict) else {},
        kind="attached" if r["kind"] == "attached" else "proposed",
        segment=dict(r["segment"] or {}), numbers=numbers_from_json(numbers),
        examples=tuple(Example(int(e["id"]), str(e["ref"])) for e in r["examples"] or []),
        at=r["at"], no_longer_holds_since=r["no_longer_holds_since"],
    )  # fmt: skip

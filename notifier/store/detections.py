"""Crisis detection in the database: the counts per group, and each rule's state per group.

The counts are two grouped queries per rule, each over one window's rows only: the breaks
(``promise_events`` of type broken or rescheduled, through a partial index on ``at``) of
the window and of the ``BASELINE_SPAN`` before it, and the promises due in the window
(``promises.due_at``); with ``at_risk`` counted, the second reaches to the next window
and asks each open promise for a warning of an at-risk rule (a semi-join on
``notifications.promise_id``). A calm group with no break in the window returns no row from the
first. The state (``crisis_detections``) has one row per rule and group that holds or has
fired; firing locks that row, so two replicas (or a restart mid-way) propose one incident,
and ``incident_detections`` is unique per rule, group and episode besides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    and_,
    case,
    cast,
    delete,
    distinct,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.detection import (
    BASELINE_SPAN,
    MAX_EXAMPLES,
    CrisisRule,
    Detection,
    Example,
    Fired,
    GroupCount,
    Numbers,
    covers,
    group_key,
    numbers_from_json,
    segment_spec,
)
from notifier.domain.incidents import OPEN, NewIncident
from notifier.domain.models import JSONValue
from notifier.store.base import StoreBase
from notifier.store.convert import (
    crisis_detections,
    customers,
    incident_detections,
    incidents,
    notifications,
    promise_events,
    promises,
)
from notifier.store.dialects import Dialect
from notifier.store.due import WENT_OUT
from notifier.store.incidents import insert_incident

# The same text as the partial index's, so that SQLite can use it.
_BREAKS = text("promise_events.type IN ('broken', 'rescheduled')")
_OPEN = [s.value for s in OPEN]


def _field(name: str, dialect: Dialect) -> ColumnElement[Any]:
    head, _, rest = name.partition(".")
    if head == "attributes":
        return cast(dialect.json_text(promises.c.attributes, rest.split(".")), String)
    if head == "customer":
        return customers.c[rest]
    return promises.c[name]


def _warned() -> ColumnElement[bool]:
    """True when an at-risk rule's warning about the promise's current deadline went out.

    An at-risk rule is one with ``when: before_due``: its notices carry the stage
    ``at_risk`` (its repeats follow a warning). The key ``rule:promise:version:step``
    names the deadline version, so a warning about a deadline since rescheduled does not
    count; nor does one still waiting, cancelled, suppressed or failed.
    """
    n, p = notifications.c, promises.c
    key = n.rule_id + ":" + cast(p.id, String) + ":" + cast(p.deadline_version, String) + ":%"
    return exists().where(
        n.promise_id == p.id, n.stage == "at_risk", n.status.in_(sorted(WENT_OUT)),
        n.dedupe_key.like(key),
    )  # fmt: skip


def _needs_customers(rule: CrisisRule) -> bool:
    return any(f.startswith("customer.") for f in (*rule.group_by, *rule.match))


def _where(rule: CrisisRule, dialect: Dialect) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [
        _field(name, dialect).in_(list(values)) for name, values in rule.match.items()
    ]
    clauses.extend(_field(name, dialect).is_not(None) for name in rule.group_by)
    return clauses


class DetectionQueries(StoreBase):
    async def crisis_counts(self, rule: CrisisRule, now: datetime) -> list[GroupCount]:
        """Return the counts of every group with something counted in the rule's window."""
        start = now - rule.window
        groups = [_field(f, self.dialect).label(f"g{i}") for i, f in enumerate(rule.group_by)]
        joined = promise_events.join(promises, promises.c.id == promise_events.c.promise_id)
        dues: FromClause = promises
        if _needs_customers(rule):
            joined = joined.join(customers, customers.c.id == promises.c.customer_id)
            dues = promises.join(customers, customers.c.id == promises.c.customer_id)
        pid = promise_events.c.promise_id
        recent = func.count(distinct(case((promise_events.c.at >= start, pid), else_=None)))
        older = func.count(distinct(case((promise_events.c.at < start, pid), else_=None)))
        breaks = (
            select(*groups, recent, older).select_from(joined)
            .where(_BREAKS, promise_events.c.at >= start - BASELINE_SPAN,
                   promise_events.c.at <= now, *_where(rule, self.dialect))
            .group_by(*groups).having(recent > 0)
        )  # fmt: skip
        at_risk_asked = "at_risk" in rule.count
        p = promises.c
        late_estimate = and_(p.estimate_at.is_not(None), p.estimate_at > p.due_at)
        risky = and_(p.status == "open", or_(late_estimate, _warned()))
        due_now = and_(p.due_at <= now, p.status != "cancelled")
        counted_risk = func.sum(case((risky, 1), else_=0))
        due = func.sum(case((due_now, 1), (risky, 1), else_=0)) if at_risk_asked else (
            func.sum(case((due_now, 1), else_=0))
        )  # fmt: skip
        end = now + rule.window if at_risk_asked else now
        dued = (
            select(*groups, due, counted_risk).select_from(dues)
            .where(p.due_at >= start, p.due_at <= end, *_where(rule, self.dialect))
            .group_by(*groups)
        )  # fmt: skip
        found: dict[tuple[str, ...], list[int]] = {}
        async with self.reading() as conn:
            for row in await conn.execute(breaks):
                found[tuple(str(v) for v in row[:-2])] = [int(row[-2]), int(row[-1]), 0, 0]
            for row in await conn.execute(dued):
                values = tuple(str(v) for v in row[:-2])
                risk = int(row[-1] or 0) if at_risk_asked else 0
                if values in found:
                    found[values][2], found[values][3] = int(row[-2] or 0), risk
                elif risk:
                    found[values] = [0, 0, int(row[-2] or 0), risk]
        return [
            GroupCount(values, broken + risk, due, history)
            for values, (broken, history, due, risk) in found.items()
        ]

    async def crisis_examples(
        self, rule: CrisisRule, values: Sequence[str], now: datetime
    ) -> list[Example]:
        """Return up to MAX_EXAMPLES promises of the group broken in the window, newest first."""
        joined = promise_events.join(promises, promises.c.id == promise_events.c.promise_id)
        if _needs_customers(rule):
            joined = joined.join(customers, customers.c.id == promises.c.customer_id)
        same = [_field(f, self.dialect) == v for f, v in zip(rule.group_by, values, strict=True)]
        query = (
            select(promises.c.id, promises.c.external_ref, func.max(promise_events.c.at))
            .select_from(joined)
            .where(_BREAKS, promise_events.c.at >= now - rule.window,
                   promise_events.c.at <= now, *_where(rule, self.dialect), *same)
            .group_by(promises.c.id, promises.c.external_ref)
            .order_by(func.max(promise_events.c.at).desc(), promises.c.id.desc())
            .limit(MAX_EXAMPLES)
        )  # fmt: skip
        async with self.reading() as conn:
            return [Example(int(r[0]), str(r[1])) for r in await conn.execute(query)]

    async def step_detections(
        self, rule: CrisisRule, held: Mapping[tuple[str, ...], Numbers], now: datetime
    ) -> list[tuple[str, ...]]:
        """Record which groups hold now; return those that held for ``for`` and may fire."""
        d = crisis_detections.c
        keys = [group_key(v) for v in held]
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
        query = select(incident_detections).where(incident_detections.c.told_ops.is_(False))
        async with self.reading() as conn:
            rows = (await conn.execute(query.order_by(incident_detections.c.id))).mappings()
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


async def _rearm(conn: AsyncConnection, rule: CrisisRule, now: datetime) -> None:
    """Let a group fire again once its incident is over and it was false a whole window."""
    d = crisis_detections.c
    still_open = exists().where(incidents.c.id == d.incident_id, incidents.c.status.in_(_OPEN))
    quiet = and_(d.rule_id == rule.id, d.holding_since.is_(None))
    await conn.execute(
        update(crisis_detections)
        .where(quiet, d.armed.is_(False), d.false_since <= now - rule.window, ~still_open)
        .values(armed=True, updated_at=now)
    )  # fmt: skip
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

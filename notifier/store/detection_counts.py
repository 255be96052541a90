"""Crisis detection's counts per group: what a rule's window holds, and each group's history.

Three grouped queries, each over the rows of one span of time only, never the whole
ledger:

- the breaks of the window (``promise_events`` of type broken or rescheduled, through the
  partial index on ``at``), per group;
- the promises due in the window (``promises.due_at``), and with ``at_risk`` counted up to
  the next window, asking each open promise for a warning of an at-risk rule (a semi-join
  on ``notifications.promise_id``);
- the breaks of the ``BASELINE_SPAN`` before the window, per group: the baseline's
  history, which the detector asks for only when some group holds every other condition.
  A calm scan reads nothing older than its window.

A break's group is read from its promise. On PostgreSQL that is one primary-key lookup
per break (a ``LATERAL`` subquery behind ``OFFSET 0``: ``Dialect.fenced_lookups``). Left
to itself the planner prices the JSON extraction as nearly free and hashes the whole
``promises`` table instead, a cost that grows with the ledger (140 ms a scan at 90,000
promises, against 8 ms). SQLite walks the break rows and looks each promise up by its key
on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    or_,
    select,
    text,
    true,
)

from notifier.domain.detection import BASELINE_SPAN, MAX_EXAMPLES, CrisisRule, Example, GroupCount
from notifier.store.base import StoreBase
from notifier.store.convert import customers, notifications, promise_events, promises
from notifier.store.dialects import Dialect
from notifier.store.due import WENT_OUT

# The same text as the partial index's, so that SQLite can use it.
_BREAKS = text("promise_events.type IN ('broken', 'rescheduled')")
# Rules kept prepared per store: more than a rule set ever has (a reload replaces them).
_PREPARED_MAX = 256


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


def _owners(rule: CrisisRule) -> FromClause:
    """The promises, with their customers when the rule reads a customer's field."""
    if any(f.startswith("customer.") for f in (*rule.group_by, *rule.match)):
        return promises.join(customers, customers.c.id == promises.c.customer_id)
    return promises


def _where(rule: CrisisRule, dialect: Dialect) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [
        _field(name, dialect).in_(list(values)) for name, values in rule.match.items()
    ]
    clauses.extend(_field(name, dialect).is_not(None) for name in rule.group_by)
    return clauses


def _breaks(
    rule: CrisisRule, dialect: Dialect, span: Sequence[ColumnElement[bool]], *columns: Any
) -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """Return the breaks of the rule's promises in ``span`` (bounds on ``at``), and the group.

    The query selects ``columns`` (of ``promise_events`` or ``promises``) then the group's
    values (``g0``, ``g1``, ...); the caller groups it or orders it.
    """
    ev = promise_events.c
    groups = [_field(f, dialect).label(f"g{i}") for i, f in enumerate(rule.group_by)]
    if not dialect.fenced_lookups:
        query = select(*columns, *groups).select_from(
            promise_events.join(_owners(rule), promises.c.id == ev.promise_id)
        )
        return query.where(_BREAKS, *span, *_where(rule, dialect)), list(groups)
    # The promise's own columns asked for travel through the lookup too.
    own = [c for c in columns if c.table is promises]
    per_break = (
        select(*own, *groups).select_from(_owners(rule))
        .where(promises.c.id == ev.promise_id, *_where(rule, dialect))
        .offset(0)  # a fence: the planner may not turn the lookup back into a hash join
        .lateral("owner")
    )  # fmt: skip
    outer = [per_break.c[c.name] if c.table is promises else c for c in columns]
    query = select(*outer, *(per_break.c[g.name] for g in groups))
    query = query.select_from(promise_events.join(per_break, true())).where(_BREAKS, *span)
    return query, [per_break.c[g.name] for g in groups]


def _per_group(breaks: Select[Any], groups: list[ColumnElement[Any]]) -> Select[Any]:
    """Per group of ``breaks`` (which selects ``promise_id`` first): its promises broken."""
    rows = breaks.subquery()
    cols = [rows.c[g.name] for g in groups]
    return select(*cols, func.count(distinct(rows.c.promise_id))).group_by(*cols)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A rule's three statements, built once: a scan only binds its instants.

    Building them is most of a calm scan's cost otherwise (the expression trees of the
    JSON fields and the semi-join, rebuilt every 30 s).
    """

    rule: CrisisRule
    broken: Select[Any]  # :start, :now
    dued: Select[Any]  # :start, :now, :end
    history: Select[Any]  # :since, :start


def _prepare(rule: CrisisRule, dialect: Dialect) -> _Prepared:
    ev, p = promise_events.c, promises.c
    start, now = bindparam("start", type_=ev.at.type), bindparam("now", type_=ev.at.type)
    since, end = bindparam("since", type_=ev.at.type), bindparam("end", type_=p.due_at.type)
    broken = _per_group(*_breaks(rule, dialect, [ev.at >= start, ev.at <= now], ev.promise_id))
    history = _per_group(*_breaks(rule, dialect, [ev.at >= since, ev.at < start], ev.promise_id))
    return _Prepared(rule, broken, _dued(rule, dialect, start, now, end), history)


def _dued(rule: CrisisRule, dialect: Dialect, start: Any, now: Any, end: Any) -> Select[Any]:
    """Per group: the promises due in the window, and the open ones at risk.

    With ``at_risk`` counted, ``end`` is the next window's end (a promise at risk is one
    not due yet); without, it is ``now``.
    """
    p = promises.c
    groups = [_field(f, dialect).label(f"g{i}") for i, f in enumerate(rule.group_by)]
    late_estimate = and_(p.estimate_at.is_not(None), p.estimate_at > p.due_at)
    risky = and_(p.status == "open", or_(late_estimate, _warned()))
    due_now = and_(p.due_at <= now, p.status != "cancelled")
    counted_risk = func.sum(case((risky, 1), else_=0))
    due = func.sum(case((due_now, 1), (risky, 1), else_=0)) if "at_risk" in rule.count else (
        func.sum(case((due_now, 1), else_=0))
    )  # fmt: skip
    return (
        select(*groups, due, counted_risk).select_from(_owners(rule))
        .where(p.due_at >= start, p.due_at <= end, *_where(rule, dialect))
        .group_by(*groups)
    )  # fmt: skip


class DetectionCountQueries(StoreBase):
    _prepared: dict[int, _Prepared] | None = None

    def _statements(self, rule: CrisisRule) -> _Prepared:
        """Return the rule's statements, from a small cache keyed by the rule object."""
        if self._prepared is None or len(self._prepared) > _PREPARED_MAX:
            self._prepared = {}  # a reload makes new rule objects: the old ones go
        found = self._prepared.get(id(rule))
        if found is None or found.rule is not rule:
            found = self._prepared[id(rule)] = _prepare(rule, self.dialect)
        return found

    async def crisis_counts(self, rule: CrisisRule, now: datetime) -> list[GroupCount]:
        """Return the counts of every group with something counted in the rule's window.

        ``history`` is 0 here: ``crisis_history`` reads it, for the groups that need it.
        """
        q, start = self._statements(rule), now - rule.window
        asked = "at_risk" in rule.count
        end = now + rule.window if asked else now
        found: dict[tuple[str, ...], list[int]] = {}
        async with self.reading() as conn:
            for row in await conn.execute(q.broken, {"start": start, "now": now}):
                found[tuple(str(v) for v in row[:-1])] = [int(row[-1]), 0, 0]
            for row in await conn.execute(q.dued, {"start": start, "now": now, "end": end}):
                values = tuple(str(v) for v in row[:-2])
                risk = int(row[-1] or 0) if asked else 0
                if values in found:
                    found[values][1], found[values][2] = int(row[-2] or 0), risk
                elif risk:
                    found[values] = [0, int(row[-2] or 0), risk]
        return [
            GroupCount(values, broken + risk, due, 0)
            for values, (broken, due, risk) in found.items()
        ]

    async def crisis_history(self, rule: CrisisRule, now: datetime) -> dict[tuple[str, ...], int]:
        """Return each group's promises broken in the BASELINE_SPAN before the window."""
        start = now - rule.window
        params = {"since": start - BASELINE_SPAN, "start": start}
        async with self.reading() as conn:
            rows = await conn.execute(self._statements(rule).history, params)
            return {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in rows}

    async def crisis_examples(
        self, rule: CrisisRule, values: Sequence[str], now: datetime
    ) -> list[Example]:
        """Return up to MAX_EXAMPLES promises of the group broken in the window, newest first."""
        ev, p = promise_events.c, promises.c
        within = [ev.at >= now - rule.window, ev.at <= now]
        breaks, groups = _breaks(rule, self.dialect, within, p.id, p.external_ref, ev.at)
        span = breaks.subquery()
        same = [span.c[g.name] == v for g, v in zip(groups, values, strict=True)]
        latest = func.max(span.c.at)
        query = (
            select(span.c.id, span.c.external_ref, latest).where(*same)
            .group_by(span.c.id, span.c.external_ref)
            .order_by(latest.desc(), span.c.id.desc()).limit(MAX_EXAMPLES)
        )  # fmt: skip
        async with self.reading() as conn:
            return [Example(int(r[0]), str(r[1])) for r in await conn.execute(query)]

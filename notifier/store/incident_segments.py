"""An incident's segment as SQL: which unsettled promises it covers, decided by the database.

``Segment.covers`` (the rules' matcher) is the definition. Each of its conditions becomes
a WHERE clause the database evaluates the same way, when there is one:

- ``kind``, ``status``, ``external_ref`` and a customer's plain text fields (``locale``,
  ``timezone``, ``phone`` ...) are text columns; the matcher compares text only with text,
  so ``column IN (the text values)`` is exact;
- ``due_at`` before or after an instant is a comparison of timestamps;
- ``attributes.a.b`` is read with the database's JSON text function, exact when every
  value is a string that no JSON number, boolean, object or array prints as (``"3"`` is
  also the number 3 to the matcher, and ``3.0`` prints otherwise: those are left to it).

A condition with no exact clause (``customer.country``, read off the phone number too;
such values) is left out of the SQL, which then selects a superset: ``exact`` is False and
the caller tests each row it returns with ``Segment.covers`` (``store/affected.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table

from notifier.domain.incidents import UNSETTLED, Segment
from notifier.domain.rules.model import Condition
from notifier.store.dialects import Dialect

# Customer fields stored as a text column under the same name (``country`` is not one:
# the matcher reads it off the phone number when none was given).
_TEXT_CUSTOMER = frozenset(
    {"id", "locale", "timezone", "name", "preferred_channel", "last_used_channel", "phone",
     "email", "whatsapp", "x_user_id"}
)  # fmt: skip
_TEXT_PROMISE = frozenset({"kind", "status", "external_ref"})


@dataclass(frozen=True, slots=True)
class SegmentSql:
    """The WHERE clauses of a segment; ``exact``: they alone decide (no row test needed)."""

    where: tuple[ColumnElement[bool], ...]
    exact: bool


def segment_sql(
    segment: Segment,
    dialect: Dialect,
    promises: Table,
    customers: Table,
    *,
    forgotten: bool = False,
) -> SegmentSql:
    """Return the clauses selecting the unsettled promises ``segment`` covers (see above);
    with ``forgotten``, those of forgotten customers too (``Segment.selects``)."""
    p, c = promises.c, customers.c
    statuses = [s for s in segment.statuses if s in UNSETTLED]
    where: list[ColumnElement[bool]] = [p.status.in_(statuses)]
    if not forgotten:
        where.append(c.forgotten_at.is_(None))
    exact = True
    for condition in segment.conditions:
        clause = _clause(condition, dialect, promises, customers)
        if clause is None:
            exact = False
        else:
            where.append(clause)
    return SegmentSql(tuple(where), exact)


def _clause(
    condition: Condition, dialect: Dialect, promises: Table, customers: Table
) -> ColumnElement[bool] | None:
    head, *rest = condition.path
    if condition.op in ("lt", "gt") and head == "due_at" and not rest:
        if not isinstance(condition.value, datetime):
            return None
        column = promises.c.due_at
        return column < condition.value if condition.op == "lt" else column > condition.value
    if condition.op != "in" or not isinstance(condition.value, tuple):
        return None
    values: tuple[Any, ...] = condition.value
    texts = [v for v in values if isinstance(v, str)]
    if head in _TEXT_PROMISE and not rest:
        return promises.c[head].in_(texts)
    if head == "customer" and len(rest) == 1 and rest[0] in _TEXT_CUSTOMER:
        return customers.c[rest[0]].in_(texts)
    if head == "attributes" and rest and len(texts) == len(values) and all(map(_plain, texts)):
        return dialect.json_text(promises.c.attributes, rest).in_(texts)
    return None


def _plain(text: str) -> bool:
    """True when no JSON value other than this string prints as ``text``."""
    if text in ("true", "false", "null") or text[:1] in ("{", "["):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False

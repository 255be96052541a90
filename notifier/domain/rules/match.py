"""Whether a rule's ``match`` conditions hold for a promise and its customer, and why.

``matches`` is the scan's question, asked for every rule of every due promise: it builds
nothing. ``trace_match`` answers the same question with the values it saw, for an
explain; both ask ``_verdict``, the one place each operator is decided.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Literal, TypeAlias

from notifier.domain.models import Customer, JSONValue, Promise
from notifier.domain.rules.model import AnyOf, Condition, ConditionValue, FieldRef, Operator, Rule
from notifier.domain.rules.regex import Regex

# The promise's own times: compared with a time, or with each other (risk signals).
TIME_FIELDS: tuple[str, ...] = ("due_at", "window_start", "estimate_at")
# Customer fields a rule may test; addresses are there for ``exists`` checks.
CUSTOMER_FIELDS: tuple[str, ...] = (
    "id", "locale", "timezone", "name", "preferred_channel", "last_used_channel",
    "phone", "email", "whatsapp", "x_user_id", "country",
)  # fmt: skip
PROMISE_FIELDS: tuple[str, ...] = ("kind", "status", "external_ref", *TIME_FIELDS)
_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class Missing(Enum):
    """The value of a path the promise or customer does not have (not the same as null)."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING
# What a path holds: JSON, a promise's own time, or nothing at all.
Seen: TypeAlias = JSONValue | datetime | Literal[Missing.MISSING]


@dataclass(frozen=True, slots=True)
class ConditionTrace:
    """One condition as it was tested: the dotted path, the operator, both values."""

    path: str  # "attributes.carrier", "customer.locale"
    op: Operator | Literal["any"]
    expected: JSONValue  # a regex as its pattern, a time as ISO 8601 text
    actual: Seen  # MISSING when the path leads nowhere; None when it holds a null
    held: bool

    @property
    def missing(self) -> bool:
        """True when the promise or customer has no value at the path."""
        return self.actual is MISSING

    def to_json(self) -> dict[str, JSONValue]:
        """Return the trace as JSON values; a missing value has no ``actual`` key."""
        out: dict[str, JSONValue] = {"path": self.path, "op": self.op, "expected": self.expected}
        if self.actual is not MISSING:
            out["actual"] = _plain(self.actual)
        out["missing"] = self.missing
        out["held"] = self.held
        return out


@dataclass(frozen=True, slots=True)
class MatchTrace:
    """A rule's conditions for one promise, each tested, and the rule's verdict."""

    rule_id: str
    conditions: tuple[ConditionTrace, ...]
    first_failed: int | None  # the index of the first condition that failed, if any

    @property
    def matched(self) -> bool:
        """True when every condition held (what ``matches`` answers)."""
        return self.first_failed is None

    @property
    def failed(self) -> ConditionTrace | None:
        """Return the first condition that failed, or None when the rule matches."""
        return None if self.first_failed is None else self.conditions[self.first_failed]

    def to_json(self) -> dict[str, JSONValue]:
        """Return the trace as JSON values."""
        return {
            "rule": self.rule_id,
            "matched": self.matched,
            "first_failed": self.first_failed,
            "conditions": [c.to_json() for c in self.conditions],
        }


def matches(rule: Rule, promise: Promise, customer: Customer) -> bool:
    """True when every condition of ``rule`` holds (a rule without conditions matches all)."""
    # A loop, not all() over a generator: this is asked for every rule of every due promise.
    for c in rule.match:
        if not _verdict(c, _resolve(c.path, promise, customer), promise, customer):
            return False
    return True


def holds(condition: Condition, promise: Promise, customer: Customer) -> bool:
    """True when ``condition`` holds; a missing field fails every operator but ``exists``."""
    return _verdict(condition, _resolve(condition.path, promise, customer), promise, customer)


def trace_match(rule: Rule, promise: Promise, customer: Customer) -> MatchTrace:
    """Return every condition of ``rule`` tested against the promise, with the values seen.

    All conditions are tested, also after one fails, so an explain can show each.
    """
    conditions = tuple(trace_condition(c, promise, customer) for c in rule.match)
    first = next((i for i, c in enumerate(conditions) if not c.held), None)
    return MatchTrace(rule.id, conditions, first)


def trace_condition(condition: Condition, promise: Promise, customer: Customer) -> ConditionTrace:
    """Return ``condition`` tested against the promise, with the value it saw there."""
    actual = _resolve(condition.path, promise, customer)
    return ConditionTrace(
        ".".join(condition.path), condition.op, _plain(condition.value), actual,
        _verdict(condition, actual, promise, customer),
    )  # fmt: skip


def _verdict(condition: Condition, actual: Seen, promise: Promise, customer: Customer) -> bool:
    present = actual is not MISSING and actual is not None
    value: object = condition.value
    if isinstance(value, FieldRef):  # the other side is the promise's own value
        value = _resolve(value.path, promise, customer)
    match condition.op:
        case "any":
            return isinstance(value, AnyOf) and any(
                all(holds(c, promise, customer) for c in group) for group in value.groups
            )
        case "exists":
            return present == bool(value)
        case "eq":
            return present and _equal(actual, value)
        case "ne":
            return not (present and _equal(actual, value))
        case "in":
            return present and isinstance(value, tuple) and any(_equal(actual, v) for v in value)
        case "not_in":
            return not (
                present and isinstance(value, tuple) and any(_equal(actual, v) for v in value)
            )
        case "regex":
            return isinstance(value, Regex) and isinstance(actual, str) and value.search(actual)
        case "gt" | "gte" | "lt" | "lte":
            return present and _compare(condition.op, actual, value)
    return False


def _resolve(path: tuple[str, ...], promise: Promise, customer: Customer) -> Seen:
    head, rest = path[0], path[1:]
    if head == "customer":
        if len(rest) != 1 or rest[0] not in CUSTOMER_FIELDS:
            return MISSING
        if rest[0] == "country":  # stated, or read off the phone number
            return customer.home_country
        found: JSONValue = getattr(customer, rest[0])
        return found
    if head == "attributes":
        node: JSONValue = promise.attributes  # type: ignore[assignment]  # a Mapping of JSON
        for part in rest:
            if not isinstance(node, Mapping) or part not in node:
                return MISSING
            node = node[part]
        return node
    if head == "status":
        return promise.status.value
    if head in PROMISE_FIELDS:
        field: JSONValue | datetime = getattr(promise, head)
        return field
    return MISSING


def _plain(value: ConditionValue | Seen) -> JSONValue:
    if isinstance(value, Regex):
        return value.pattern
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, FieldRef):  # the field it is compared with, by name
        return ".".join(value.path)
    if isinstance(value, AnyOf):
        return [[_condition_json(c) for c in group] for group in value.groups]
    if value is MISSING:
        return None
    return value


def _condition_json(c: Condition) -> JSONValue:
    return {"path": ".".join(c.path), "op": c.op, "expected": _plain(c.value)}


def _equal(actual: object, expected: object) -> bool:
    # YAML's true is not the number 1, and "3" is not 3: compare like JSON does.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    if _is_number(actual) and _is_number(expected):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, actual: object, expected: object) -> bool:
    if isinstance(expected, datetime):
        instant = _instant(actual)
        return instant is not None and _order(op, instant, expected)
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return _is_number(expected) and _is_number(actual) and _order(op, actual, expected)
    return False


def _order(op: str, left: float | datetime, right: float | datetime) -> bool:
    return bool(_ORDER[op](left, right))


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):  # a promise's own time
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None

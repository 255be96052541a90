"""Whether a rule's ``match`` conditions hold for a promise and its customer."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime

from notifier.domain.models import Customer, Promise
from notifier.domain.rules.model import AnyOf, Condition, FieldRef, Rule
from notifier.domain.rules.regex import Regex

# The promise's own times: compared with a time, or with each other (risk signals).
TIME_FIELDS: tuple[str, ...] = ("due_at", "window_start", "estimate_at")
# Customer fields a rule may test; addresses are there for ``exists`` checks.
CUSTOMER_FIELDS: tuple[str, ...] = (
    "id", "locale", "timezone", "name", "preferred_channel", "last_used_channel",
    "phone", "email", "whatsapp", "x_user_id", "country",
)  # fmt: skip
PROMISE_FIELDS: tuple[str, ...] = ("kind", "status", "external_ref", *TIME_FIELDS)
_MISSING = object()
_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def matches(rule: Rule, promise: Promise, customer: Customer) -> bool:
    """True when every condition of ``rule`` holds (a rule without conditions matches all)."""
    return all(holds(c, promise, customer) for c in rule.match)


def holds(condition: Condition, promise: Promise, customer: Customer) -> bool:
    """True when ``condition`` holds; a missing field fails every operator but ``exists``."""
    actual = _resolve(condition.path, promise, customer)
    present = actual is not _MISSING and actual is not None
    value: object = condition.value
    if isinstance(value, FieldRef):
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


def _resolve(path: tuple[str, ...], promise: Promise, customer: Customer) -> object:
    head, rest = path[0], path[1:]
    if head == "customer":
        if len(rest) != 1 or rest[0] not in CUSTOMER_FIELDS:
            return _MISSING
        if rest[0] == "country":  # stated, or read off the phone number
            return customer.home_country
        return getattr(customer, rest[0])
    if head == "attributes":
        node: object = promise.attributes
        for part in rest:
            if not isinstance(node, Mapping) or part not in node:
                return _MISSING
            node = node[part]
        return node
    if head == "status":
        return promise.status.value
    if head in PROMISE_FIELDS:
        return getattr(promise, head)
    return _MISSING


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

"""The ``match`` block, read by hand: its keys are dotted paths, not a fixed schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from notifier.domain.models import PromiseStatus
from notifier.domain.problems import Severity
from notifier.domain.rules.match import CUSTOMER_FIELDS, PROMISE_FIELDS, TIME_FIELDS
from notifier.domain.rules.model import (
    OPERATORS,
    AnyOf,
    Condition,
    ConditionValue,
    FieldRef,
    Operator,
    Scalar,
)
from notifier.domain.rules.regex import Regex, compile_regex
from notifier.domain.rules.spelling import did_you_mean, one_of

Path = tuple[str | int, ...]
_FIELD_NAMES = (
    *PROMISE_FIELDS, *(f"customer.{f}" for f in CUSTOMER_FIELDS), "attributes.", "any",
)  # fmt: skip
_ATTRIBUTE = re.compile(r"^attributes(\.[A-Za-z0-9_-]+)+$")
_STATUSES = tuple(s.value for s in PromiseStatus)


@dataclass(frozen=True, slots=True)
class SchemaError:
    """A problem at ``path`` inside one file's data; ``at_key`` points at the key itself."""

    path: Path
    message: str
    at_key: bool = False
    severity: Severity = "error"


def parse_match(raw: object, where: Path) -> tuple[tuple[Condition, ...], list[SchemaError]]:
    """Return the conditions of a ``match`` mapping and every problem found in it."""
    if not isinstance(raw, dict):
        return (), [SchemaError(where, "'match' must be a mapping of field: condition")]
    conditions: list[Condition] = []
    errors: list[SchemaError] = []
    for key, value in raw.items():
        path = (*where, key)
        if key == "any":
            found_any, problems = _any_of(value, path)
            conditions.extend(found_any)
            errors.extend(problems)
            continue
        field = _field_path(str(key))
        if field is None:
            hint = did_you_mean(str(key), _FIELD_NAMES)
            errors.append(
                SchemaError(path, f"unknown match field '{key}'{hint}: use kind, status, "
                            "external_ref, attributes.NAME or customer.FIELD", at_key=True)
            )  # fmt: skip
            continue
        found, problems = _conditions(field, value, path)
        conditions.extend(found)
        errors.extend(problems)
    return tuple(conditions), errors


def _any_of(raw: object, where: Path) -> tuple[list[Condition], list[SchemaError]]:
    """Return the one condition of ``any:``, a list of match mappings of which one must hold."""
    if not isinstance(raw, list) or not raw:
        return [], [SchemaError(where, "'any' needs a list of match mappings, one of which holds")]
    groups: list[tuple[Condition, ...]] = []
    errors: list[SchemaError] = []
    for index, item in enumerate(raw):
        if isinstance(item, dict) and not item:
            errors.append(SchemaError((*where, index), "an empty mapping in 'any' always holds"))
            continue
        found, problems = parse_match(item, (*where, index))
        groups.append(found)
        errors.extend(problems)
    return [Condition(("any",), "any", AnyOf(tuple(groups)))], errors


def _field_path(key: str) -> tuple[str, ...] | None:
    if key in PROMISE_FIELDS or _ATTRIBUTE.match(key):
        return tuple(key.split("."))
    head, _, name = key.partition(".")
    if head == "customer" and name in CUSTOMER_FIELDS:
        return ("customer", name)
    return None


def _conditions(
    field: tuple[str, ...], value: object, path: Path
) -> tuple[list[Condition], list[SchemaError]]:
    if isinstance(value, dict):
        if not value:
            return [], [SchemaError(path, "an empty condition: give a value or an operator")]
        found: list[Condition] = []
        errors: list[SchemaError] = []
        for name, operand in value.items():
            known = next((o for o in OPERATORS if o == name), None)
            if known is None:
                hint = did_you_mean(str(name), OPERATORS)
                msg = f"unknown operator '{name}'{hint}: use {one_of(OPERATORS)}"
                errors.append(SchemaError((*path, name), msg, at_key=True))
                continue
            condition, error = _condition(field, known, operand, (*path, name))
            if error is not None:
                errors.append(error)
            elif condition is not None:
                found.append(condition)
        return found, errors
    op: Operator = "in" if isinstance(value, list) else "eq"
    condition, error = _condition(field, op, value, path)
    return ([condition] if condition else []), ([error] if error else [])


def _condition(
    field: tuple[str, ...], op: Operator, operand: object, path: Path
) -> tuple[Condition | None, SchemaError | None]:
    try:
        value = _operand(op, operand)
    except ValueError as exc:
        return None, SchemaError(path, str(exc))
    if field == ("status",):
        for status in value if isinstance(value, tuple) else (value,):
            if op in ("eq", "ne", "in", "not_in") and status not in _STATUSES:
                hint = did_you_mean(str(status), _STATUSES)
                return None, SchemaError(
                    path, f"unknown status '{status}'{hint}: use {one_of(_STATUSES)}"
                )
    return Condition(field, op, value), None


def _operand(op: Operator, operand: object) -> ConditionValue:
    if op in ("eq", "ne"):
        return _scalar(operand, op)
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise ValueError(f"'{op}' needs a non-empty list of values")
        return tuple(_scalar(v, op) for v in operand)
    if op == "exists":
        if not isinstance(operand, bool):
            raise ValueError("'exists' needs true or false")
        return operand
    if op == "regex":
        return _regex(operand)
    return _bound(op, operand)


def _scalar(value: object, op: str) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(
        f"'{op}' needs a plain value (text, number, true/false), not a list or mapping"
    )


def _regex(operand: object) -> Regex:
    if not isinstance(operand, str):
        raise ValueError("'regex' needs a pattern in quotes")
    return compile_regex(operand)


def _bound(op: str, operand: object) -> Scalar | datetime | FieldRef:
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return operand
    if operand in TIME_FIELDS:
        return FieldRef((str(operand),))
    if isinstance(operand, str):
        try:
            instant = datetime.fromisoformat(operand)
        except ValueError:
            instant = None
        if instant is not None and instant.tzinfo is not None:
            return instant
    raise ValueError(
        f"'{op}' needs a number or a time with an offset (2026-11-24T09:00:00-03:00), "
        f"not {operand!r}"
    )

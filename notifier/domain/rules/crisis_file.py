"""A rule file's ``crisis:`` list turned into crisis rules and problems, each at its place.

Hand-checked, not through the pydantic schema: every key is known here, every value gets
its own message (``share_at_least: 120%``, ``above_baseline: 3``), and one rule's
problems never hide another's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from notifier.domain.detection import (
    BASELINE_SPAN,
    COUNT_KINDS,
    NOTIFY_CUSTOMERS,
    CountKind,
    CrisisRule,
    NotifyCustomers,
    Thresholds,
)
from notifier.domain.incident_texts import MAX_TEXT
from notifier.domain.incidents import Severity, field_problem
from notifier.domain.rules import fields
from notifier.domain.rules.conditions import Path, SchemaError
from notifier.domain.rules.spelling import did_you_mean, one_of

_KEYS = ("id", "description", "match", "group_by", "window", "when", "count", "for",
         "notify_customers", "incident")  # fmt: skip
_WHEN_KEYS = ("broken_at_least", "share_at_least", "above_baseline")
_INCIDENT_KEYS = ("title", "severity")
# The rule counts by status and due time itself: a match on them would contradict it.
_COUNTED = ("status", "due_at")
_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,4})?)\s*%\s*$")
_TIMES = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,4})?)\s*x\s*$")
# A title's locale key: es, es-AR, pt-BR (engine/rulefiles/crisis_titles.py reads it too).
LOCALE_KEY = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
# Several windows must fit in the baseline's span for a mean to mean anything.
MAX_WINDOW = timedelta(days=1)
MAX_COUNT = 1_000_000
T = TypeVar("T")


def parse_crisis(raw: object) -> tuple[list[tuple[int, CrisisRule]], list[SchemaError]]:
    """Return the valid crisis rules of a file's ``crisis:`` value (with index), and problems."""
    if not isinstance(raw, list):
        return [], [SchemaError(("crisis",), "'crisis' must be a list of crisis rules")]
    rules: list[tuple[int, CrisisRule]] = []
    errors: list[SchemaError] = []
    for index, item in enumerate(raw):
        where: Path = ("crisis", index)
        try:
            rule, found = _parse_one(item, where)
        except Exception as exc:  # a rule the checker cannot read is refused, not the load
            text = " ".join(f"cannot check this crisis rule: {type(exc).__name__}: {exc}".split())
            rule, found = None, [SchemaError(where, text[:300])]
        errors.extend(found)
        if rule is not None and not found:
            rules.append((index, rule))
    return rules, errors


def _parse_one(item: object, where: Path) -> tuple[CrisisRule | None, list[SchemaError]]:
    if not isinstance(item, dict):
        return None, [SchemaError(where, "each crisis rule must be a mapping ('- id: ...')")]
    errors: list[SchemaError] = []
    _unknown(item, _KEYS, where, errors)
    for key in ("id", "group_by", "window", "when", "incident"):
        if key not in item:
            errors.append(SchemaError(where, f"missing required key '{key}'"))
    got = _Getter(item, where, errors)
    rule_id = got.value("id", fields.rule_id)
    match = _match(item.get("match", {}), (*where, "match"), errors)
    group_by = _group_by(item.get("group_by"), match, (*where, "group_by"), errors)
    window = got.value("window", fields.wall_duration)
    if window is not None and window > MAX_WINDOW:
        errors.append(SchemaError((*where, "window"), f"invalid window '{item['window']}': at "
                                  f"most 1d (the baseline is a mean over the previous "
                                  f"{BASELINE_SPAN.days} days)"))  # fmt: skip
    when = _when(item.get("when"), (*where, "when"), errors)
    count = _count(item.get("count", ["broken"]), (*where, "count"), errors)
    hold = got.value("for", lambda v: fields.wall_duration(v, allow_zero=True), timedelta(0))
    notify = got.value(
        "notify_customers",
        lambda v: fields.choice(v, NOTIFY_CUSTOMERS, "notify_customers value"),
        "confirm",
    )
    # A title's template, and the group fields it reads, are checked in the engine
    # (engine/rulefiles/crisis_titles.py): the domain knows no Jinja2.
    titles, severity = _incident(item.get("incident"), (*where, "incident"), errors)
    if item.get("description") is not None and not isinstance(item["description"], str):
        errors.append(SchemaError((*where, "description"), "'description' must be text"))
    if errors or rule_id is None or group_by is None or window is None or when is None:
        return None, errors
    return CrisisRule(
        id=rule_id, match=match, group_by=group_by, window=window, when=when, count=count,
        hold=hold or timedelta(0), notify_customers=_notify(notify), titles=titles,
        severity=severity,
    ), errors  # fmt: skip


class _Getter:
    """Reads one key with a ``fields`` check; its ValueError becomes a problem at the value."""

    def __init__(self, item: dict[str, object], where: Path, errors: list[SchemaError]) -> None:
        self.item, self.where, self.errors = item, where, errors

    def value(self, key: str, check: Callable[[object], T], default: T | None = None) -> T | None:
        if key not in self.item:
            return default
        try:
            return check(self.item[key])
        except ValueError as exc:
            self.errors.append(SchemaError((*self.where, key), str(exc)))
            return None


def _notify(value: str | None) -> NotifyCustomers:
    return "immediately" if value == "immediately" else "confirm"


def _unknown(
    item: dict[str, object], known: tuple[str, ...], where: Path, errors: list[SchemaError]
) -> None:
    for key in item:
        if key not in known:
            hint = did_you_mean(str(key), known)
            errors.append(SchemaError((*where, key), f"unknown key '{key}'{hint}", True))


def _field(name: object, where: Path, errors: list[SchemaError], what: str) -> str | None:
    if not isinstance(name, str) or not name.strip():
        errors.append(
            SchemaError(where, f"{what}: an empty field; name one, e.g. attributes.carrier")
        )
        return None
    problem = field_problem(name)
    if problem is None and name in _COUNTED:
        problem = f"not {name}: the rule counts by status and due time itself"
    if problem is None and name == "customer.country":  # the matcher reads the phone too
        problem = "not customer.country: the database cannot tell it from the phone number"
    if problem is not None:
        errors.append(SchemaError(where, f"{what}: {problem}"))
        return None
    return name


def _match(raw: object, where: Path, errors: list[SchemaError]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        errors.append(SchemaError(where, "'match' must be a mapping of field: value or [values]"))
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        if _field(name, (*where, name), errors, "match") is None:
            continue
        items = value if isinstance(value, list) else [value]
        texts = [_text(v) for v in items]
        if not items or any(t is None for t in texts):
            errors.append(SchemaError((*where, name), f"'{name}' takes a value or a list of "
                                      "values (text, a number or true/false)"))  # fmt: skip
            continue
        out[name] = tuple(dict.fromkeys(t for t in texts if t is not None))
    return out


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str) and str(value).strip():
        return str(value).strip()
    return None


def _group_by(
    raw: object, match: dict[str, tuple[str, ...]], where: Path, errors: list[SchemaError]
) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        errors.append(SchemaError(where, "'group_by' must be a list of one or more fields"))
        return None
    names: list[str] = []
    ok = True
    for i, item in enumerate(raw):
        name = _field(item, (*where, i), errors, "group_by")
        if name is None:
            ok = False
        elif name in names:
            errors.append(SchemaError((*where, i), f"group_by: {name} given twice"))
            ok = False
        elif name in match:
            errors.append(SchemaError((*where, i), f"{name} is in 'match' already: group by it "
                                      "or match on it, not both"))  # fmt: skip
            ok = False
        elif name.rsplit(".", 1)[-1] in [n.rsplit(".", 1)[-1] for n in names]:
            short = name.rsplit(".", 1)[-1]
            errors.append(SchemaError((*where, i), f"two group_by fields end in '{short}': a "
                                      f"title could not tell group.{short} apart"))  # fmt: skip
            ok = False
        else:
            names.append(name)
    return tuple(names) if ok else None


def _when(raw: object, where: Path, errors: list[SchemaError]) -> Thresholds | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append(SchemaError(where, "'when' must be a mapping"))
        return None
    _unknown(raw, _WHEN_KEYS, where, errors)
    if not any(k in raw for k in _WHEN_KEYS):
        errors.append(SchemaError(where, f"'when' needs at least one of {one_of(_WHEN_KEYS)}"))
        return None
    least = _at_least(raw, (*where, "broken_at_least"), errors)
    share = _ratio(raw, "share_at_least", _PERCENT, where, errors)
    times = _ratio(raw, "above_baseline", _TIMES, where, errors)
    return Thresholds(least, share, times)


def _at_least(raw: dict[str, object], where: Path, errors: list[SchemaError]) -> int | None:
    value = raw.get("broken_at_least")
    if value is None and "broken_at_least" not in raw:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        errors.append(SchemaError(where, f"invalid broken_at_least {value!r}: a whole number "
                                  f"from 1 to {MAX_COUNT}"))  # fmt: skip
        return None
    return value


def _ratio(
    raw: dict[str, object], key: str, form: re.Pattern[str], where: Path, errors: list[SchemaError]
) -> float | None:
    if key not in raw:
        return None
    value = raw[key]
    found = form.match(value) if isinstance(value, str) else None
    if key == "share_at_least":
        amount = float(found.group(1)) if found else None
        if amount is None or not 0 < amount <= 100:
            errors.append(SchemaError((*where, key), f"invalid percentage {value!r}: use a "
                                      "share above 0% and at most 100%, e.g. 20%"))  # fmt: skip
            return None
        return amount / 100
    times = float(found.group(1)) if found else None
    if times is None or times < 1:
        errors.append(SchemaError((*where, key), f"invalid multiplier {value!r}: use a number "
                                  "of times the usual rate, at least 1x, e.g. 3x"))  # fmt: skip
        return None
    return times


def _count(raw: object, where: Path, errors: list[SchemaError]) -> frozenset[CountKind]:
    items = raw if isinstance(raw, list) else None
    if not items:
        errors.append(SchemaError(where, f"'count' must be a list of {one_of(COUNT_KINDS)}"))
        return frozenset({"broken"})
    out: set[CountKind] = set()
    for i, item in enumerate(items):
        kind = next((k for k in COUNT_KINDS if k == item), None)
        if kind is None:
            hint = did_you_mean(str(item), COUNT_KINDS)
            errors.append(SchemaError((*where, i), f"unknown count {item!r}{hint}: use "
                                      f"{one_of(COUNT_KINDS)}"))  # fmt: skip
        elif kind in out:
            errors.append(SchemaError((*where, i), f"'{kind}' given twice"))
        else:
            out.add(kind)
    return frozenset(out) or frozenset({"broken"})


def _incident(
    raw: object, where: Path, errors: list[SchemaError]
) -> tuple[dict[str, str], Severity]:
    if raw is None:
        return {}, Severity.MAJOR
    if not isinstance(raw, dict):
        errors.append(SchemaError(where, "'incident' must be a mapping with 'title'"))
        return {}, Severity.MAJOR
    _unknown(raw, _INCIDENT_KEYS, where, errors)
    severity = Severity.MAJOR
    if "severity" in raw:
        try:
            severity = Severity(fields.choice(raw["severity"], tuple(Severity), "severity"))
        except ValueError as exc:
            errors.append(SchemaError((*where, "severity"), str(exc)))
    if "title" not in raw:
        errors.append(SchemaError(where, "missing required key 'title'"))
        return {}, severity
    return _titles(raw["title"], (*where, "title"), errors), severity


def _titles(raw: object, where: Path, errors: list[SchemaError]) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw:
        errors.append(SchemaError(where, "'title' must be a mapping of locale: text, e.g. "
                                  "{es: ..., en: ...}"))  # fmt: skip
        return {}
    out: dict[str, str] = {}
    for locale, text in raw.items():
        at = (*where, locale)
        if not isinstance(locale, str) or not LOCALE_KEY.match(locale):
            errors.append(SchemaError(at, f"invalid locale {locale!r}: e.g. es, es-AR, pt-BR",
                                      True))  # fmt: skip
            continue
        if not isinstance(text, str) or not text.strip():
            errors.append(SchemaError(at, f"the {locale} title must be non-empty text"))
            continue
        if len(text) > MAX_TEXT:
            errors.append(SchemaError(at, f"the {locale} title is {len(text)} characters; at "
                                      f"most {MAX_TEXT}"))  # fmt: skip
            continue
        out[locale] = text.strip()
    return out

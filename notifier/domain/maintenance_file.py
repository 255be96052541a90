"""One maintenance file's data (already parsed from YAML) turned into windows and problems.

Read by hand, like a rule's ``match``: every problem is reported with its path in the
data (the checker turns it into ``path:line:column``), and a window with any problem is
left out. The segment is the one ``--match`` builds, checked by the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar, cast

from notifier.domain.durations import DurationError, parse_written_instant
from notifier.domain.incident_match import field_spec
from notifier.domain.incident_texts import NOT_A_LOCALE, clean_text, locale_tag
from notifier.domain.incidents import (
    UPDATES_ON,
    IncidentError,
    Severity,
    check_channels,
    field_problem,
    segment_of,
)
from notifier.domain.maintenance import Maintenance
from notifier.domain.models import ChannelName, JSONValue
from notifier.domain.rules.conditions import Path, SchemaError
from notifier.domain.rules.spelling import did_you_mean, one_of

KEYS = ("id", "title", "severity", "match", "start", "end", "messages", "updates_on",
        "through_quiet_hours")  # fmt: skip
REQUIRED = ("id", "title", "match", "start", "end")
STEPS = ("opened", "updated", "resolved")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_SEVERITIES = tuple(s.value for s in Severity)


def parse_maintenance_file(
    data: object,
) -> tuple[list[tuple[int, Maintenance]], list[SchemaError]]:
    """Return the valid windows of one file (with their index) and every problem in it."""
    if not isinstance(data, dict):
        what = "empty" if data is None else "not a mapping"
        return [], [SchemaError((), f"the file is {what}: expected 'maintenance:' with a list")]
    errors = [
        SchemaError((k,), f"unknown key '{k}'{did_you_mean(str(k), ['maintenance'])}", True)
        for k in data
        if k != "maintenance"
    ]
    items = data.get("maintenance")
    if "maintenance" not in data:
        return [], [*errors, SchemaError((), "missing required key 'maintenance'")]
    if not isinstance(items, list):
        return [], [*errors, SchemaError(("maintenance",), "'maintenance' must be a list")]
    found: list[tuple[int, Maintenance]] = []
    for index, item in enumerate(items):
        window, problems = _window(item, ("maintenance", index))
        errors.extend(problems)
        if window is not None:
            found.append((index, window))
    return found, errors


def _window(item: object, where: Path) -> tuple[Maintenance | None, list[SchemaError]]:
    if not isinstance(item, dict):
        return None, [SchemaError(where, "each maintenance must be a mapping ('- id: ...')")]
    errors = [
        SchemaError((*where, k), f"unknown key '{k}'{did_you_mean(str(k), KEYS)}", True)
        for k in item
        if k not in KEYS
    ]
    errors.extend(
        SchemaError(where, f"missing required key '{k}'") for k in REQUIRED if k not in item
    )
    read = _Reader(item, where, errors)
    mid = read.field("id", _identifier)
    titles = read.field("title", _texts)
    severity = read.field("severity", _severity) or Severity.MINOR
    segment = read.field("match", _segment)
    start, end = read.field("start", _instant), read.field("end", _instant)
    if start is not None and end is not None and end <= start:
        errors.append(SchemaError((*where, "end"), f"end {item['end']} is not after start "
                                  f"{item['start']}"))  # fmt: skip
    steps = read.field("messages", _messages) or {}
    updates_on = read.field("updates_on", _channels)
    through = read.field("through_quiet_hours", _boolean)
    if errors or mid is None or titles is None or segment is None or not (start and end):
        return None, errors
    window = Maintenance(
        mid, titles, segment, start, end, severity, steps.get("opened"), steps.get("updated"),
        steps.get("resolved"), UPDATES_ON if updates_on is None else updates_on, through,
    )  # fmt: skip
    return window, errors


T = TypeVar("T")
Convert = Callable[[object, Path, list[SchemaError]], T]


class _Reader:
    """Reads one key of a window: its converted value, or None with its problems noted."""

    def __init__(self, item: Mapping[str, object], where: Path, errors: list[SchemaError]) -> None:
        self.item, self.where, self.errors = item, where, errors

    def field(self, key: str, convert: Convert[T]) -> T | None:
        if key not in self.item:
            return None
        path = (*self.where, key)
        before = len(self.errors)
        try:
            value = convert(self.item[key], path, self.errors)
        except ValueError as exc:
            self.errors.append(SchemaError(path, str(exc)))
            return None
        return value if len(self.errors) == before else None


def _identifier(value: object, path: Path, errors: list[SchemaError]) -> str:
    if isinstance(value, str) and _ID.match(value):
        return value
    raise ValueError(
        f"invalid maintenance id {_show(value)}: use lower-case letters, digits, '-', '_' or "
        "'.', up to 100 characters (it keys the incident opened once: never reuse one)"
    )


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else repr(str(value))


def _texts(value: object, path: Path, errors: list[SchemaError]) -> dict[str, str]:
    """A mapping of locale: text, each tag canonical and each text within bounds."""
    if not isinstance(value, dict) or not value:
        raise ValueError("use a mapping of locale: text, e.g. {es: '...', en: '...'}")
    out: dict[str, str] = {}
    for raw, text in value.items():
        tag = locale_tag(str(raw))
        if tag is None:
            errors.append(SchemaError((*path, raw), f"'{raw}': {NOT_A_LOCALE}", True))
            continue
        if tag in out:
            errors.append(SchemaError((*path, raw), f"locale '{tag}' given twice", True))
            continue
        if not isinstance(text, str):
            errors.append(SchemaError((*path, raw), "the text must be a string"))
            continue
        try:
            out[tag] = clean_text(text)
        except ValueError as exc:
            errors.append(SchemaError((*path, raw), str(exc)))
    return out


def _messages(value: object, path: Path, errors: list[SchemaError]) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise ValueError(f"use a mapping of {one_of(STEPS)}: {{locale: text}}")
    out: dict[str, dict[str, str]] = {}
    for step, texts in value.items():
        if step not in STEPS:
            hint = did_you_mean(str(step), STEPS)
            errors.append(SchemaError((*path, step), f"unknown key '{step}'{hint}: use "
                                      f"{one_of(STEPS)}", True))  # fmt: skip
            continue
        try:
            out[step] = _texts(texts, (*path, step), errors)
        except ValueError as exc:
            errors.append(SchemaError((*path, step), str(exc)))
    return out


def _severity(value: object, path: Path, errors: list[SchemaError]) -> Severity:
    if isinstance(value, str) and value in _SEVERITIES:
        return Severity(value)
    hint = did_you_mean(str(value), _SEVERITIES)
    raise ValueError(f"unknown severity {_show(value)}{hint}: use {one_of(_SEVERITIES)}")


def _instant(value: object, path: Path, errors: list[SchemaError]) -> datetime:
    """An instant written out: ISO 8601 with an offset (a file has no ``now``)."""
    try:
        return parse_written_instant(value if isinstance(value, str) else str(value))
    except DurationError as exc:
        raise ValueError(str(exc)) from None


def _channels(value: object, path: Path, errors: list[SchemaError]) -> tuple[ChannelName, ...]:
    """The channels, as ``--updates-on`` (and the API's ``updates_on``) check them."""
    if not isinstance(value, list):
        raise ValueError("use a list of channels, e.g. [email, x]")
    out: list[ChannelName] = []
    for i, name in enumerate(value):
        try:
            out.extend(check_channels([str(name)]))
        except IncidentError as exc:
            errors.append(SchemaError((*path, i), str(exc)))
    return tuple(dict.fromkeys(out))


def _boolean(value: object, path: Path, errors: list[SchemaError]) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"use true or false, not {_show(value)}")


def _segment(value: object, path: Path, errors: list[SchemaError]) -> dict[str, JSONValue]:
    """The segment spec, each field read by the API's own ``match`` reader and checked as
    ``incident open`` checks it (a status other than open or broken is refused)."""
    if not isinstance(value, dict) or not value:
        raise ValueError(
            "use a mapping of field: value or [values], e.g. {kind: refund}: "
            "a maintenance needs a segment"
        )
    spec: dict[str, JSONValue] = {}
    for name, given in value.items():
        at_key = field_problem(str(name)) is not None  # no such field: the key is at fault
        try:
            # The YAML loader gives plain data: strings, numbers, booleans, lists, mappings.
            part = {str(name): field_spec(str(name), cast(JSONValue, given), None)}
            segment_of(part)
        except IncidentError as exc:
            errors.append(SchemaError((*path, name), exc.reason, at_key))
            continue
        spec.update(part)
    return spec

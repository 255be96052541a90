"""An incident's segment as JSON gives it: ``{field: value or [values]}``, ANDed.

The result is the spec ``parse_match`` builds from the same selectors on the command
line (values as text, one of a list, ``due_at`` as {before|after: ISO}), so the API and
the CLI select the same promises. A list element is one value: a ``,`` in it is kept.
A planned maintenance file (``rules/incidents/``) writes its ``match`` in this form and is
read by the same code, one field at a time (``field_spec``) so that every field's problem
is reported, and with no ``now`` (a file's times are written out).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from notifier.domain.durations import DurationError, parse_instant, parse_written_instant
from notifier.domain.incidents import IncidentError, bound_side, field_problem, text_of
from notifier.domain.models import JSONValue
from notifier.domain.rules.spelling import did_you_mean

BOUNDS = ("before", "after")


def match_spec(match: Mapping[str, JSONValue], now: datetime) -> dict[str, JSONValue]:
    """Return the segment spec of ``match``; raises IncidentError naming the field.

    ``due_at`` takes {"before": TIME, "after": TIME} or the CLI's forms ("<TIME",
    "before:TIME", or a list of them); TIME is ISO 8601 with an offset or ``now+2h``.
    """
    return {name: field_spec(name, value, now) for name, value in match.items()}


def field_spec(name: str, value: JSONValue, now: datetime | None) -> JSONValue:
    """Return the spec of one ``match`` field; raises IncidentError naming it.

    ``now`` None: ``due_at`` takes ISO 8601 with an offset only, never ``now+2h``.
    """
    problem = field_problem(name)
    if problem is not None:
        raise _refused(name, problem)
    return _bounds(value, now) if name == "due_at" else _values(name, value)


def _refused(name: str, reason: str) -> IncidentError:
    return IncidentError(f"match.{name}: {reason}", "--match", key=name, reason=reason)


def _values(name: str, value: JSONValue) -> list[JSONValue]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _refused(name, "an empty list; give a value or a list of values")
    out: list[str] = []
    for item in items:
        if isinstance(item, dict | list) or item is None:
            raise _refused(name, "each value is a string, a number or a boolean")
        text = text_of(item).strip()
        if not text:
            raise _refused(name, "an empty value")
        out.append(text)
    return list(dict.fromkeys(out))


def _bounds(value: JSONValue, now: datetime | None) -> dict[str, JSONValue]:
    example = "now+1d" if now is not None else "2026-12-20T00:00:00-03:00"
    usage = f'use {{"before": TIME}} or {{"after": TIME}}, e.g. {{"before": "{example}"}}'
    if isinstance(value, dict):
        pairs = list(value.items())
        wrong = next((side for side, _ in pairs if side not in BOUNDS), None)
        if wrong is not None:
            raise _refused("due_at", f"unknown key {wrong!r}{did_you_mean(wrong, BOUNDS)}; {usage}")
    elif isinstance(value, str | list):
        pairs = [_side(item, usage) for item in (value if isinstance(value, list) else [value])]
    else:
        raise _refused("due_at", usage)
    if not pairs or any(side not in BOUNDS or not isinstance(at, str) for side, at in pairs):
        raise _refused("due_at", usage)
    bounds: dict[str, JSONValue] = {}
    for side, at in pairs:
        assert isinstance(at, str)  # checked above
        try:
            found = parse_written_instant(at) if now is None else parse_instant(at, now)
            bounds[side] = found.isoformat()
        except DurationError as exc:
            raise _refused("due_at", str(exc)) from None
    return bounds


def _side(item: JSONValue, usage: str) -> tuple[str, JSONValue]:
    found = bound_side(item.strip()) if isinstance(item, str) else None
    if found is None:
        raise _refused("due_at", usage)
    return found

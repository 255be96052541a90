"""Incidents: a crisis over a segment of promises, its published updates and its history.

An incident's customer-facing steps are numbered: 0 is the opening, each ``update`` adds
one, the resolution is the last. A customer gets at most one message per step (the key
``incident:<id>:customer:<id>:update:<n>``) and, being latest-wins, only the newest step
not yet told (``domain/crisis.py`` decides at send time). Pauses, resumes, confirmations
and dismissals are history without a step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from notifier.domain.durations import DurationError, parse_instant
from notifier.domain.errors import ConflictError, NotifierError
from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    Customer,
    IncidentStatus,
    JSONValue,
    Promise,
    PromiseStatus,
)
from notifier.domain.rules.match import CUSTOMER_FIELDS, holds
from notifier.domain.rules.model import Condition, Operator
from notifier.domain.rules.spelling import did_you_mean


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class IncidentError(NotifierError):
    """A command on an incident that cannot be done: says what and why, in one line.

    ``option`` names the option at fault when the input itself is (a usage error), ``key``
    the item within it (a match field, a locale); ``reason`` says what is wrong without
    naming either, for the API, which names its JSON field instead.
    """

    def __init__(
        self,
        message: str,
        option: str | None = None,
        *,
        key: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.option = option
        self.key = key
        self.reason = reason or message


class IncidentConflictError(IncidentError, ConflictError):
    """A command the incident's state forbids (resolving a resolved one, confirming one
    that needs no confirmation): the CLI exits 1, the API answers 409."""


# An incident still under way: it notifies and inhibits. RESOLVED and DISMISSED are ends.
OPEN = frozenset(
    {IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING}
)
# What `--status` on an update may set (resolve has its own command).
UPDATE_STATUSES = ("investigating", "identified", "monitoring")  # in the order they go
# The customer-facing steps' messages.
OPENED, UPDATED, RESOLVED = "crisis_opened", "crisis_update", "crisis_resolved"
CRISIS_MESSAGES = (OPENED, UPDATED, RESOLVED)
# By default every update goes to these channels; SMS and WhatsApp get the opening, a
# change of estimate and the resolution only (as status pages do).
UPDATES_ON: tuple[ChannelName, ...] = ("email", "x")
# After the customer's last used channel, the ways a crisis message may take.
CRISIS_FALLBACK: tuple[ChannelName, ...] = ("whatsapp", "sms", "email", "x")
StepKind = Literal["opened", "update", "resolved"]
HistoryKind = Literal["opened", "update", "resolved", "paused", "resumed", "confirmed", "dismissed"]
# The fields a segment may select on: the promise's own, its attributes, its customer's.
SEGMENT_FIELDS = ("kind", "status", "due_at", "external_ref")
SEGMENT_FIELD_NAMES = (*SEGMENT_FIELDS, "attributes.<name>", "customer.<field>")
# What a misspelt field is compared with for a did-you-mean.
_FIELD_HINTS = (*SEGMENT_FIELDS, *(f"customer.{f}" for f in CUSTOMER_FIELDS), "attributes.")
UNSETTLED = (PromiseStatus.OPEN.value, PromiseStatus.BROKEN.value)
SEVERITY_PRIORITY = {"minor": "normal", "major": "high", "critical": "critical"}


@dataclass(frozen=True, slots=True)
class Segment:
    """Who an incident touches: unsettled promises for which every condition holds.

    ``spec`` is the segment as given ({field: [values]}, ``due_at``: {before|after: ISO});
    ``conditions`` the same in the rules' matcher language.
    """

    spec: Mapping[str, JSONValue]
    conditions: tuple[Condition, ...]

    def covers(self, promise: Promise, customer: Customer) -> bool:
        """True when ``promise`` is unsettled, every condition holds for it, and its customer
        was not forgotten (nobody tells them anything)."""
        return not customer.forgotten and self.selects(promise, customer)

    def selects(self, promise: Promise, customer: Customer) -> bool:
        """True when ``promise`` is unsettled and every condition holds, forgotten or not."""
        if promise.status.value not in UNSETTLED:
            return False
        return all(holds(c, promise, customer) for c in self.conditions)

    @property
    def kinds(self) -> tuple[str, ...] | None:
        """The promise kinds it selects, when it names them (the store reads only those)."""
        found = self.spec.get("kind")
        return tuple(str(k) for k in found) if isinstance(found, list) else None

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses it selects: open and broken unless it narrows them."""
        found = self.spec.get("status")
        return tuple(str(s) for s in found) if isinstance(found, list) else UNSETTLED

    def describe(self) -> str:
        """One line: ``kind=delivery attributes.carrier=andreani,oca due_at<...``."""
        parts: list[str] = []
        for name, value in self.spec.items():
            if isinstance(value, dict):
                parts.extend(
                    f"{name}{'<' if side == 'before' else '>'}{at}" for side, at in value.items()
                )
            elif isinstance(value, list):
                parts.append(f"{name}={','.join(text_of(v) for v in value)}")
        return " ".join(parts) or "(every unsettled promise)"


def text_of(value: JSONValue) -> str:
    """Return a segment value as ``--match`` writes it: ``true``, ``3``, ``andreani``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_match(items: Sequence[str], now: datetime) -> dict[str, JSONValue]:
    """Return the segment spec of ``--match`` items: ``FIELD=V1,V2`` (one of), ANDed.

    ``due_at<TIME`` / ``due_at>TIME`` (or ``due_at=before:TIME`` / ``after:TIME``) bound
    the deadline; TIME is ISO 8601 with an offset or ``now+2h``. Raises IncidentError.
    """
    spec: dict[str, JSONValue] = {}
    for item in items:
        name, op, raw = _split(item)
        if name == "due_at":
            side, text = _bound(op, raw, item)
            try:
                at = parse_instant(text, now)
            except DurationError as exc:
                raise _refused(item, str(exc), name) from None
            bounds = spec.setdefault("due_at", {})
            assert isinstance(bounds, dict)
            bounds[side] = at.isoformat()
            continue
        if op != "=":
            raise _refused(item, "only due_at takes < or >; use FIELD=VALUE", name)
        values = [v.strip() for v in raw.split(",")]
        if not raw.strip() or any(not v for v in values):
            raise _refused(item, "an empty value; use FIELD=VALUE[,VALUE...]", name)
        if name in spec:
            raise _refused(item, f"{name} given twice; use {name}=A,B for one of", name)
        spec[name] = list(dict.fromkeys(values))
    return spec


def _refused(item: str, reason: str, key: str | None = None) -> IncidentError:
    return IncidentError(f"--match {item!r}: {reason}", "--match", key=key, reason=reason)


def _split(item: str) -> tuple[str, str, str]:
    at = min((i for i in (item.find("="), item.find("<"), item.find(">")) if i > 0), default=-1)
    if at <= 0:
        raise _refused(item, "use FIELD=VALUE, e.g. attributes.carrier=andreani")
    name = item[:at].strip()
    check_field(name, item)
    return name, item[at], item[at + 1 :].strip()


def _bound(op: str, raw: str, item: str) -> tuple[str, str]:
    found = bound_side(op + raw if op != "=" else raw)
    if found is None:
        raise _refused(item, "use due_at<TIME or due_at>TIME", "due_at")
    return found


def bound_side(text: str) -> tuple[str, str] | None:
    """Return (before|after, TIME) for ``<TIME``, ``>TIME``, ``before:TIME``, ``after:TIME``."""
    if text[:1] in ("<", ">"):
        rest = text[1:].strip()
        return ("before" if text[0] == "<" else "after", rest) if rest else None
    side, _, rest = text.partition(":")
    return (side, rest.strip()) if side in ("before", "after") and rest.strip() else None


def field_problem(name: str) -> str | None:
    """Say why the matcher cannot read segment field ``name``; None when it can."""
    head, _, rest = name.partition(".")
    if head == "attributes" and rest and all(rest.split(".")):
        return None
    if head == "customer" and rest in CUSTOMER_FIELDS:
        return None
    if name in SEGMENT_FIELDS:
        return None
    hint = "" if name in _FIELD_HINTS else did_you_mean(name, _FIELD_HINTS)
    return f"unknown field {name!r}{hint}; use one of {', '.join(SEGMENT_FIELD_NAMES)}"


def check_field(name: str, item: str) -> None:
    """Refuse a segment field the matcher cannot read."""
    problem = field_problem(name)
    if problem is not None:
        raise _refused(item, problem, name)


def segment_of(spec: Mapping[str, JSONValue]) -> Segment:
    """Return the segment ``spec`` describes (as stored, or from ``parse_match``)."""
    conditions: list[Condition] = []
    for name, value in spec.items():
        check_field(name, name)
        path = tuple(name.split("."))
        if name == "due_at":
            if not isinstance(value, dict):
                raise IncidentError("segment: due_at takes {before|after: TIME}")
            for side, at in value.items():
                op: Operator = "lt" if side == "before" else "gt"
                conditions.append(Condition(path, op, datetime.fromisoformat(str(at))))
            continue
        if not isinstance(value, list) or not value:
            raise IncidentError(f"segment: {name} takes a list of values")
        if name == "status":
            wrong = [v for v in value if v not in UNSETTLED]
            if wrong:
                reason = (
                    f"{','.join(map(text_of, wrong))}: an incident touches unsettled "
                    "promises only: open, broken"
                )
                raise IncidentError(
                    f"--match status={reason}", "--match", key="status", reason=reason
                )
        conditions.append(Condition(path, "in", _values(value)))
    return Segment(dict(spec), tuple(conditions))


def _values(values: Sequence[JSONValue]) -> tuple[str | int | float | bool | None, ...]:
    """Each value as given and, when it reads as a number or a boolean, as that too: an
    ``amount`` attribute of 3 matches ``--match attributes.amount=3``."""
    out: list[str | int | float | bool | None] = []
    for v in values:
        if isinstance(v, str | int | float | bool) or v is None:
            out.append(v)
        if isinstance(v, str) and v in ("true", "false"):
            out.append(v == "true")
        elif isinstance(v, str) and _INTEGER.fullmatch(v):
            out.append(int(v))
        elif isinstance(v, str) and _DECIMAL.fullmatch(v):
            out.append(float(v))
    return tuple(dict.fromkeys(out))


_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"-?[0-9]{1,18}\.[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class Step:
    """One customer-facing step: the opening (0), an update, the resolution."""

    number: int
    kind: StepKind
    status: IncidentStatus
    messages: Mapping[str, str]  # locale: text ({} when ops wrote none)
    estimate_at: datetime | None  # the estimate in force after this step
    at: datetime

    @property
    def message(self) -> str:
        """The message customers get at this step (before knowing whether they were told)."""
        return {"opened": OPENED, "update": UPDATED, "resolved": RESOLVED}[self.kind]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    kind: HistoryKind
    by: str
    step: int | None = None
    status: str | None = None
    texts: Mapping[str, str] = field(default_factory=dict)
    estimate_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    titles: Mapping[str, str]  # locale: headline
    severity: Severity
    segment: Segment
    status: IncidentStatus
    opened_at: datetime
    opened_by: str
    steps: tuple[Step, ...]  # published, by number: steps[n].number == n
    through_quiet_hours: bool = False
    updates_on: tuple[ChannelName, ...] = UPDATES_ON
    paused: bool = False
    detected: bool = False  # proposed by a crisis rule (the detection issue)
    awaiting_confirmation: bool = False  # nobody is told until `incident confirm`
    resolved_at: datetime | None = None
    plan_at: datetime | None = None  # when the planner looks next; None: nothing to plan
    changed_at: datetime | None = None  # by the last command (the planner moves plan_at only)

    @property
    def is_open(self) -> bool:
        """True while it is under way (not resolved, not dismissed)."""
        return self.status in OPEN

    @property
    def notifies(self) -> bool:
        """True when its messages may go out now: confirmed and not paused."""
        return not self.awaiting_confirmation and not self.paused

    @property
    def inhibits(self) -> bool:
        """True while it holds back the individual notices of its promises."""
        return self.is_open and not self.awaiting_confirmation

    @property
    def latest(self) -> Step:
        """The newest published step."""
        return self.steps[-1]

    def step(self, number: int) -> Step | None:
        """Return step ``number``, or None when there is none."""
        return self.steps[number] if 0 <= number < len(self.steps) else None

    @property
    def awaits_planner(self) -> bool:
        """True while the planner has yet to take the look the last command asked for:
        opening, an update, a confirmation set ``plan_at`` to their own instant, and the
        planner, once it wrote the rows, moves it on (a sweep later) or clears it. Read off
        the rows alone, so a reader's clock (another host's, a test's) plays no part."""
        if self.plan_at is None:
            return False
        return self.changed_at is None or self.plan_at <= self.changed_at


def check_channels(names: Sequence[str]) -> tuple[ChannelName, ...]:
    """Return ``names`` as channels; raises IncidentError naming one that is none."""
    out: list[ChannelName] = []
    for name in names:
        found = next((c for c in CHANNELS if c == name), None)
        if found is None:
            hint = did_you_mean(name, CHANNELS)
            raise IncidentError(f"unknown channel {name!r}{hint}: use {', '.join(CHANNELS)}")
        out.append(found)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class NewIncident:
    titles: Mapping[str, str]
    severity: Severity
    segment: Mapping[str, JSONValue]
    messages: Mapping[str, str]
    estimate_at: datetime | None
    by: str
    through_quiet_hours: bool
    updates_on: tuple[str, ...] = UPDATES_ON
    default_locale: str = "es"
    detected: bool = False
    awaiting_confirmation: bool = False
    source: str | None = None  # what opened it, once only (``maintenance:<id>``)

"""Crisis detection: rules that notice a segment breaking together, and what they decide.

A crisis rule (``crisis:`` in a rule file) groups the promises it matches by
``group_by`` and counts, per group, the promises broken (and, if asked, at risk) in the
last ``window``, against those due in it and against the group's own usual rate. The
store counts (set-based, ``store/detections.py``); the functions here decide from the
counts: whether a group's condition holds, and what the proposed incident looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from notifier.domain.incidents import NewIncident, Severity
from notifier.domain.models import JSONValue

CountKind = Literal["broken", "at_risk"]
COUNT_KINDS: tuple[CountKind, ...] = ("broken", "at_risk")
NotifyCustomers = Literal["confirm", "immediately"]
NOTIFY_CUSTOMERS: tuple[NotifyCustomers, ...] = ("confirm", "immediately")
# The span the baseline is read over, before the current window.
BASELINE_SPAN = timedelta(days=7)
# A group with no history needs at least ``above_baseline`` counts: never "0 is more than 0".
BASELINE_FLOOR = 1.0
MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``when``: every condition given must hold; None means not asked."""

    broken_at_least: int | None = None
    share_at_least: float | None = None  # a fraction: 20% is 0.2
    above_baseline: float | None = None  # a multiplier: 3x is 3.0


@dataclass(frozen=True, slots=True)
class CrisisRule:
    id: str
    match: Mapping[str, tuple[str, ...]]  # the segment's fixed part: {field: values}
    group_by: tuple[str, ...]  # dotted fields: attributes.carrier, customer.country, kind
    window: timedelta
    when: Thresholds
    count: frozenset[CountKind] = frozenset({"broken"})
    hold: timedelta = timedelta(0)  # ``for``
    notify_customers: NotifyCustomers = "confirm"
    titles: Mapping[str, str] = field(default_factory=dict)  # locale: Jinja2 source
    severity: Severity = Severity.MAJOR

    def group_names(self) -> tuple[str, ...]:
        """The names a title reads the group's values by: the last part of each field."""
        return tuple(f.rsplit(".", 1)[-1] for f in self.group_by)


@dataclass(frozen=True, slots=True)
class GroupCount:
    """One group's counts over the current window, and its history (from the store)."""

    values: tuple[str, ...]  # in group_by order
    broken: int  # what counts (broken, plus at risk when asked) in the window
    due: int  # the group's promises due in the window (the counted ones included)
    history: int  # broken in the BASELINE_SPAN before the window


@dataclass(frozen=True, slots=True)
class Numbers:
    """What triggered a detection, as ops read it and the incident keeps it."""

    broken: int
    due: int
    share: float
    baseline: float

    def to_json(self) -> dict[str, JSONValue]:
        """Return the numbers as JSON values (share as a fraction, rounded)."""
        return {
            "broken": self.broken,
            "due": self.due,
            "share": round(self.share, 4),
            "baseline": round(self.baseline, 4),
        }


def baseline(history: int, window: timedelta) -> float:
    """Return the mean count per window over BASELINE_SPAN, floored at BASELINE_FLOOR."""
    windows = BASELINE_SPAN / window
    return max(history / windows, BASELINE_FLOOR)


def numbers_of(count: GroupCount, window: timedelta) -> Numbers:
    """Return a group's numbers: its share of the due ones, and its baseline."""
    due = max(count.due, count.broken)
    share = count.broken / due if due else 0.0
    return Numbers(count.broken, due, share, baseline(count.history, window))


def holds(rule: CrisisRule, numbers: Numbers, *, baseline: bool = True) -> bool:
    """True when every condition of the rule's ``when`` holds for these numbers.

    Nothing counted never holds, whatever the conditions (an empty window is calm). With
    ``baseline=False`` the baseline is left out: a group that fails that test cannot hold
    whatever its history, so the detector reads the history of the others only.
    """
    w = rule.when
    if numbers.broken <= 0:
        return False
    if w.broken_at_least is not None and numbers.broken < w.broken_at_least:
        return False
    if w.share_at_least is not None and numbers.share < w.share_at_least:
        return False
    return not (
        baseline
        and w.above_baseline is not None
        and numbers.broken < w.above_baseline * numbers.baseline
    )


def group_key(values: Sequence[str]) -> str:
    """Return the group's key in the detection state: its values, unambiguous."""
    return "\x1f".join(values)


def segment_spec(rule: CrisisRule, values: Sequence[str]) -> dict[str, JSONValue]:
    """Return the segment of the group: the rule's match plus each group field's value."""
    spec: dict[str, JSONValue] = {k: list(v) for k, v in rule.match.items()}
    for name, value in zip(rule.group_by, values, strict=True):
        spec[name] = [value]
    return spec


def group_values(rule: CrisisRule, values: Sequence[str]) -> dict[str, str]:
    """Return what a title reads as ``group``: each group name with the group's value."""
    return dict(zip(rule.group_names(), values, strict=True))


def fallback_title(rule: CrisisRule, values: Sequence[str]) -> str:
    """Return the title of a group whose own title could not render.

    ``carrier-breakdown: andreani, AMBA``: the rule and the group, so ops can tell which
    detection it is and fix the title before confirming.
    """
    return f"{rule.id}: {', '.join(values)}"


def covers(incident_spec: Mapping[str, JSONValue], spec: Mapping[str, JSONValue]) -> bool:
    """True when a segment ``incident_spec`` covers every promise ``spec`` selects.

    Each field the incident narrows on must be narrowed by ``spec`` to values among the
    incident's; a deadline bound on the incident covers nothing for sure.
    """
    for name, values in incident_spec.items():
        if not isinstance(values, list):
            return False
        mine = spec.get(name)
        if name == "status" and mine is None:
            if not {"open", "broken"} <= {str(v) for v in values}:
                return False
            continue
        if not isinstance(mine, list) or not {str(v) for v in mine} <= {str(v) for v in values}:
            return False
    return True


def is_rearmed(false_since: datetime | None, window: timedelta, now: datetime) -> bool:
    """True when the condition has been false for a whole window by ``now``."""
    return false_since is not None and now - false_since >= window


def describe_share(share: float) -> str:
    """Return a share as ops read it: ``35%``."""
    return f"{share * 100:.0f}%"


DetectionKind = Literal["proposed", "attached"]


@dataclass(frozen=True, slots=True)
class Example:
    """A promise that counted: its id and the upstream reference ops know it by."""

    id: int
    ref: str


@dataclass(frozen=True, slots=True)
class Detection:
    """What a crisis rule found for an incident: the one it proposed, or one it attached to."""

    id: int
    incident_id: int
    rule_id: str
    group: Mapping[str, str]  # group_by field: value
    kind: DetectionKind
    segment: Mapping[str, JSONValue]
    numbers: Numbers
    examples: tuple[Example, ...]
    at: datetime
    no_longer_holds_since: datetime | None = None

    def describe_group(self) -> str:
        """One line: ``attributes.carrier=andreani attributes.region=AMBA``."""
        return " ".join(f"{k}={v}" for k, v in self.group.items())


@dataclass(frozen=True, slots=True)
class Fired:
    """What firing a group did: proposed incident ``incident_id``, or attached to it."""

    incident_id: int
    attached: bool


def numbers_from_json(data: Mapping[str, JSONValue]) -> Numbers:
    """Return the numbers stored by ``Numbers.to_json`` (missing ones as 0)."""

    def number(key: str) -> float:
        value = data.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    return Numbers(int(number("broken")), int(number("due")), number("share"), number("baseline"))


def proposal(
    rule: CrisisRule, values: Sequence[str], titles: Mapping[str, str], default_locale: str
) -> NewIncident:
    """Return the incident a crisis rule proposes for a group: detected, in investigating.

    ``titles`` are the rule's titles rendered for the group (the engine renders them).
    With ``notify_customers: confirm`` it waits for ``notifier incident confirm``; with
    ``immediately`` the playbook starts at once. Its texts are the templates' own.
    """
    return NewIncident(
        titles=dict(titles), severity=rule.severity,
        segment=segment_spec(rule, values), messages={}, estimate_at=None,
        by=f"crisis rule {rule.id}", through_quiet_hours=rule.severity is Severity.CRITICAL,
        default_locale=default_locale, detected=True,
        awaiting_confirmation=rule.notify_customers == "confirm",
    )  # fmt: skip

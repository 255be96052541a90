"""Rules as frozen values: what the schema builds and the evaluation reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, TypeAlias

from notifier.domain.calendars import BusinessDuration, Calendar
from notifier.domain.models import ChannelName
from notifier.domain.notices import Priority
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.rules.regex import Regex

if TYPE_CHECKING:  # detection imports incidents, which import the rules
    from notifier.domain.detection import CrisisRule

Operator = Literal["eq", "ne", "in", "not_in", "regex", "exists", "gt", "gte", "lt", "lte"]
OPERATORS: tuple[Operator, ...] = (
    "eq", "ne", "in", "not_in", "regex", "exists", "gt", "gte", "lt", "lte",
)  # fmt: skip
Scalar: TypeAlias = str | int | float | bool | None
# A string: AnyOf holds conditions, which hold values (the alias is read lazily).
ConditionValue: TypeAlias = "Scalar | tuple[Scalar, ...] | Regex | datetime | FieldRef | AnyOf"
Event = Literal["kept", "broken", "rescheduled", "cancelled"]
EVENTS: tuple[Event, ...] = ("kept", "broken", "rescheduled", "cancelled")
Offset: TypeAlias = timedelta | BusinessDuration
# The customer notices ``when.told`` can ask about: a repeat counts as its rule's stage.
ToldStage = Literal["at_risk", "late", "broken", "rescheduled"]
TOLD_STAGES: tuple[ToldStage, ...] = ("at_risk", "late", "broken", "rescheduled")

# The escalation's step: far above any repeat (``max`` is capped below it), and fixed,
# so raising a rule's ``max`` later never collides with an escalation already sent.
ESCALATION_STEP = 1000
MAX_REPEATS = 100


@dataclass(frozen=True, slots=True)
class Condition:
    path: tuple[
        str, ...
    ]  # ("kind",), ("status",), ("attributes", "carrier"), ("customer", "locale")
    op: Operator | Literal["any"]
    value: ConditionValue


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A comparison's other side read from the promise itself: ``estimate_at: {gt: due_at}``."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """``any:`` in a match: the condition holds when every condition of one group does."""

    groups: tuple[tuple[Condition, ...], ...]


@dataclass(frozen=True, slots=True)
class When:
    """One trigger: ``before_due`` and ``overdue`` carry an offset, ``on`` an event."""

    trigger: Literal["before_due", "overdue", "on"]
    offset: Offset = timedelta(0)
    event: Event | None = None
    hold: timedelta = timedelta(0)  # the rule's ``for``: the condition must last this long
    # ``told``: the rule speaks only once a customer notice of one of these stages was
    # scheduled for the promise (any deadline version); empty means no such condition.
    told: frozenset[ToldStage] = frozenset()


@dataclass(frozen=True, slots=True)
class Repeat:
    every: timedelta
    max: int
    messages: tuple[str, ...] = ()  # message of repeat i is messages[i-1]; the last one sticks


@dataclass(frozen=True, slots=True)
class Notify:
    message: str
    channel: ChannelName | Literal["last_used"] = "last_used"
    fallback: tuple[ChannelName, ...] = ()
    repeat: Repeat | None = None
    quiet_hours: QuietHours | None = None
    priority: Priority = "normal"
    # ``message: [first, second, third]``: step i sends steps[i], the last one repeating.
    steps: tuple[str, ...] = ()

    def message_for(self, step: int) -> str:
        """Return the message of ``step``: 0 is the stage's own, repeats may override it."""
        if self.steps:
            return self.steps[min(step, len(self.steps) - 1)]
        if step == 0 or self.repeat is None or not self.repeat.messages:
            return self.message
        return self.repeat.messages[min(step, len(self.repeat.messages)) - 1]


@dataclass(frozen=True, slots=True)
class Escalate:
    after: int | None = None  # after this many notices of the rule for one deadline
    broken: int | None = None  # when the promise has been broken this many times
    to: Literal["ops"] = "ops"
    message: str = "escalation"
    priority: Priority = "high"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: When
    notify: Notify
    description: str = ""
    match: tuple[Condition, ...] = ()
    escalate: Escalate | None = None
    calendar: Calendar = field(default_factory=Calendar)
    backfill: timedelta = timedelta(hours=24)

    def messages(self) -> tuple[str, ...]:
        """Return every message name this rule can send to the customer, in order."""
        names = [self.notify.message, *self.notify.steps]
        if self.notify.repeat is not None:
            names.extend(self.notify.repeat.messages)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class RuleDefaults:
    """What a rule inherits when it says nothing: settings decide these, not the domain."""

    quiet_hours: QuietHours | None = field(default_factory=lambda: QuietHours(time(21), time(8)))
    backfill: timedelta = timedelta(hours=24)
    calendar: Calendar = field(default_factory=Calendar)


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    defaults: RuleDefaults = field(default_factory=RuleDefaults)
    crisis: tuple[CrisisRule, ...] = ()  # the files' ``crisis:`` lists (domain/detection.py)

    # kind -> the rules whose ``kind`` condition lets it through, filled as kinds are met.
    _by_kind: dict[str, tuple[Rule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def by_id(self, rule_id: str) -> Rule | None:
        """Return the rule named ``rule_id``, or None."""
        return next((r for r in self.rules if r.id == rule_id), None)

    def for_kind(self, kind: str) -> tuple[Rule, ...]:
        """Return, in order, the rules that may match a promise of ``kind``.

        Most rules name their kinds: a scan of 10,000 promises need not test every
        condition of every rule against each. The other conditions still decide.
        """
        found = self._by_kind.get(kind)
        if found is None:
            found = tuple(r for r in self.rules if _kind_allowed(r, kind))
            self._by_kind[kind] = found
        return found


def _kind_allowed(rule: Rule, kind: str) -> bool:
    for c in rule.match:
        if c.path != ("kind",):
            continue
        if c.op == "eq" and c.value != kind:
            return False
        if c.op == "in" and isinstance(c.value, tuple) and kind not in c.value:
            return False
    return True

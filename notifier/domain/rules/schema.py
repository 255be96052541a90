"""The rule-file schema: untrusted YAML data in, frozen ``Rule`` values out.

This is the one domain module that uses pydantic. Every mapping forbids unknown keys;
each rule is validated on its own so that one file reports all its problems at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from notifier.domain.calendars import BusinessDuration
from notifier.domain.models import ChannelName
from notifier.domain.notices import PRIORITIES
from notifier.domain.notices import Priority as NoticePriority
from notifier.domain.quiet_hours import QuietAction
from notifier.domain.rules import fields
from notifier.domain.rules.model import EVENTS, MAX_REPEATS, TOLD_STAGES
from notifier.domain.rules.model import Event as EventName
from notifier.domain.rules.model import ToldStage as ToldStageName
from notifier.domain.rules.spelling import did_you_mean


def _checked(check: Callable[[object], object]) -> BeforeValidator:
    """Wrap a ``fields`` check so its ValueError becomes a plain pydantic error."""

    def run(value: object) -> object:
        try:
            return check(value)
        except ValueError as exc:
            raise PydanticCustomError("rule_value", str(exc)) from None

    return BeforeValidator(run)


def _choice(options: tuple[str, ...], what: str) -> BeforeValidator:
    return _checked(functools.partial(fields.choice, options=options, what=what))


def _last_used_or_channel(value: object) -> object:
    return "last_used" if value == "last_used" else fields.channel(value)


Duration = Annotated[timedelta, _checked(fields.wall_duration)]
DurationOrZero = Annotated[
    timedelta, _checked(functools.partial(fields.wall_duration, allow_zero=True))
]
OffsetValue = Annotated[timedelta | BusinessDuration, _checked(fields.offset)]
OffsetOrZero = Annotated[
    timedelta | BusinessDuration, _checked(functools.partial(fields.offset, allow_zero=True))
]
TimeOfDay = Annotated[time, _checked(fields.time_of_day)]
Channel = Annotated[ChannelName, _checked(fields.channel)]
ChannelOrLastUsed = Annotated[ChannelName | Literal["last_used"], _checked(_last_used_or_channel)]
MessageName = Annotated[str, _checked(fields.message_name)]
RuleId = Annotated[str, _checked(fields.rule_id)]
Timezone = Annotated[str, _checked(fields.timezone)]
Country = Annotated[str, _checked(fields.calendar_country)]
Weekday = Annotated[int, _checked(fields.weekday)]
Priority = Annotated[NoticePriority, _choice(PRIORITIES, "priority")]
Action = Annotated[QuietAction, _choice(tuple(QuietAction), "quiet-hours action")]
Event = Annotated[EventName, _choice(EVENTS, "event")]
Audience = Annotated[Literal["ops"], _choice(("ops",), "escalation target")]
# when.told: closing the loop only with customers we told something (issue 21).
ToldStage = Annotated[ToldStageName, _choice(TOLD_STAGES, "stage")]


def _one_or_many(value: object) -> object:
    # ``message: delivery_late`` means every step; ``message: [a, b, c]`` one per step.
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("rule_value", "'message' needs at least one message name")
        return value
    return [fields.message_name(value)]


MessageSteps = Annotated[list[MessageName], _checked(_one_or_many)]


def _off_is_none(value: object) -> object:
    # ``quiet_hours: false`` (or YAML's ``off``) turns quiet hours off for the rule.
    return None if value is False else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WhenModel(_Strict):
    before_due: OffsetValue | None = None
    overdue: OffsetOrZero | None = None
    on: Event | None = None
    hold: DurationOrZero | None = Field(default=None, alias="for")
    told: list[ToldStage] | None = None


class RepeatModel(_Strict):
    every: Duration
    max: int = Field(ge=1, le=MAX_REPEATS)
    messages: list[MessageName] = Field(default_factory=list)


class QuietModel(_Strict):
    start: TimeOfDay | None = None
    end: TimeOfDay | None = None
    action: Action = QuietAction.DEFER


class NotifyModel(_Strict):
    message: MessageSteps
    channel: ChannelOrLastUsed = "last_used"
    fallback: list[Channel] = Field(default_factory=list)
    repeat: RepeatModel | None = None
    quiet_hours: Annotated[QuietModel | None, BeforeValidator(_off_is_none)] = None
    priority: Priority = "normal"


class EscalateModel(_Strict):
    after: int | None = Field(default=None, ge=1, le=MAX_REPEATS + 1)
    broken: int | None = Field(default=None, ge=1, le=1000)
    to: Audience = "ops"
    message: MessageName = "escalation"
    priority: Priority = "high"


class WorkingHoursModel(_Strict):
    start: TimeOfDay
    end: TimeOfDay


class CalendarModel(_Strict):
    country: Country | None = None
    subdivision: str | None = None
    working_hours: WorkingHoursModel | None = None
    working_days: list[Weekday] | None = None
    timezone: Timezone | None = None


class RuleModel(_Strict):
    id: RuleId
    description: str = ""
    when: WhenModel
    notify: NotifyModel
    escalate: EscalateModel | None = None
    calendar: CalendarModel | None = None
    backfill: Duration | None = None


Loc = tuple[str | int, ...]


def error_message(error_type: str, loc: Loc, msg: str, ctx: dict[str, object]) -> str:
    """Return the message ops read for one pydantic error."""
    key = next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")
    if error_type == "missing":
        return f"missing required key '{key}'"
    if error_type == "extra_forbidden":
        return f"unknown key '{key}'{did_you_mean(key, known_keys(loc[:-1]))}"
    if error_type in ("model_type", "model_attributes_type", "dict_type"):
        return f"'{key}' must be a mapping"
    if error_type == "list_type":
        return f"'{key}' must be a list"
    if error_type == "string_type":
        return f"'{key}' must be text"
    if error_type in ("int_type", "int_parsing", "int_from_float"):
        return f"'{key}' must be a whole number"
    if error_type == "greater_than_equal":
        return f"'{key}' must be at least {ctx.get('ge')}"
    if error_type == "less_than_equal":
        return f"'{key}' must be at most {ctx.get('le')}"
    return msg if error_type == "rule_value" else f"'{key}': {msg}"


def known_keys(loc: Loc) -> list[str]:
    """Return the keys allowed in the mapping at ``loc`` inside a rule."""
    model: type[BaseModel] = RuleModel
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        nested = _model_in(field.annotation) if field is not None else None
        if nested is None:
            return []
        model = nested
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validate_rule(data: dict[str, object]) -> tuple[RuleModel | None, list[tuple[Loc, str, bool]]]:
    """Return the validated model, or the errors as (location, message, points-at-key)."""
    try:
        return RuleModel.model_validate(data), []
    except ValidationError as exc:
        return None, [
            (
                tuple(e["loc"]),
                error_message(e["type"], tuple(e["loc"]), e["msg"], dict(e.get("ctx") or {})),
                e["type"] == "extra_forbidden",
            )
            for e in exc.errors(include_url=False)
        ]

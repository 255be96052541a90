"""One rule file's data (already parsed from YAML) turned into rules and problems."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from notifier.domain.calendars import (
    BusinessDuration,
    Calendar,
    max_business_seconds,
    supported_countries,
)
from notifier.domain.quiet_hours import QuietHours
from notifier.domain.rules.conditions import Path, SchemaError, parse_match
from notifier.domain.rules.fields import CUSTOMER_COUNTRY
from notifier.domain.rules.model import (
    Condition,
    Escalate,
    Notify,
    Repeat,
    Rule,
    RuleDefaults,
    When,
)
from notifier.domain.rules.schema import CalendarModel, NotifyModel, RuleModel, validate_rule
from notifier.domain.rules.spelling import did_you_mean, one_of

_ONCE = ("kept", "cancelled", "rescheduled")
# A file holds customer rules, crisis rules (``crisis:``, parsed by crisis_file.py), or both.
_TOP = ("rules", "crisis")


def parse_rule_file(
    data: object, defaults: RuleDefaults
) -> tuple[list[tuple[int, Rule]], list[SchemaError]]:
    """Return the valid rules of one file (with their index) and every problem in it."""
    if data is None:
        return [], [SchemaError((), "the file is empty: expected a mapping with a 'rules:' list")]
    if not isinstance(data, dict):
        return [], [SchemaError((), "the file must be a mapping with a 'rules:' list")]
    errors = [
        SchemaError((key,), f"unknown key '{key}'{did_you_mean(str(key), _TOP)}", True)
        for key in data
        if key not in _TOP
    ]
    raw_rules = data.get("rules")
    if "rules" not in data:
        if "crisis" in data:  # a file of crisis rules only (domain/rules/crisis_file.py)
            return [], errors
        return [], [*errors, SchemaError((), "missing required key 'rules'")]
    if not isinstance(raw_rules, list):
        return [], [*errors, SchemaError(("rules",), "'rules' must be a list of rules")]
    rules: list[tuple[int, Rule]] = []
    for index, item in enumerate(raw_rules):
        try:
            rule, problems = _parse_rule(item, ("rules", index), defaults)
        except Exception as exc:  # a rule the checker cannot read is refused, not the load
            text = " ".join(f"cannot check this rule: {type(exc).__name__}: {exc}".split())
            rule, problems = None, [SchemaError(("rules", index), text[:300])]
        errors.extend(problems)
        if rule is not None:
            rules.append((index, rule))
    return rules, errors


def _parse_rule(
    item: object, where: Path, defaults: RuleDefaults
) -> tuple[Rule | None, list[SchemaError]]:
    if not isinstance(item, dict):
        return None, [SchemaError(where, "each rule must be a mapping ('- id: ...')")]
    raw = {k: v for k, v in item.items() if k != "match"}
    model, found = validate_rule(raw)
    errors = [SchemaError((*where, *loc), msg, at_key) for loc, msg, at_key in found]
    conditions: tuple[Condition, ...] = ()
    if "match" in item:
        conditions, problems = parse_match(item["match"], (*where, "match"))
        errors.extend(problems)
    if model is None:
        return None, errors
    rule, problems = _build(model, conditions, defaults, where)
    errors.extend(problems)
    return (rule if not errors else None), errors


def _build(
    model: RuleModel, conditions: tuple[Condition, ...], defaults: RuleDefaults, where: Path
) -> tuple[Rule | None, list[SchemaError]]:
    errors: list[SchemaError] = []
    when = _when(model, where, errors)
    notify = _notify(model.notify, when, defaults, (*where, "notify"), errors)
    escalate = _escalate(model, when, where, errors)
    calendar = _calendar(model.calendar, defaults.calendar, (*where, "calendar"), errors)
    if when is None or notify is None or errors:
        return None, errors
    if isinstance(when.offset, BusinessDuration):
        too_long = _business_limit(when.offset, calendar)
        if too_long is not None:
            return None, [SchemaError((*where, "when", when.trigger), too_long)]
    backfill = model.backfill or defaults.backfill
    return Rule(
        model.id, when, notify, model.description, conditions, escalate, calendar, backfill
    ), errors


def _when(model: RuleModel, where: Path, errors: list[SchemaError]) -> When | None:
    w = model.when
    given = [k for k in ("before_due", "overdue", "on") if getattr(w, k) is not None]
    if len(given) != 1:
        msg = (
            f"'when' needs one of {one_of(_TRIGGERS)}"
            if not given
            else f"'when' takes only one of {one_of(given)} (write two rules)"
        )
        errors.append(SchemaError((*where, "when"), msg))
        return None
    hold = w.hold or timedelta(0)
    if w.told is not None and not w.told:
        errors.append(SchemaError((*where, "when", "told"), _EMPTY_TOLD))
    told = frozenset(w.told or ())
    if w.before_due is not None:
        return When("before_due", offset=w.before_due, hold=hold, told=told)
    if w.overdue is not None:
        return When("overdue", offset=w.overdue, hold=hold, told=told)
    return When("on", event=w.on, hold=hold, told=told)


_EMPTY_TOLD = "'told' needs at least one stage: at_risk, late, broken or rescheduled"


_TRIGGERS = ["before_due", "overdue", "on"]


def _business_limit(offset: BusinessDuration, calendar: Calendar) -> str | None:
    """Return why ``offset`` is more business time than ``calendar`` resolves, or None."""
    # In whole seconds, so that no amount can overflow a timedelta on the way.
    day = max(int(calendar.day_length.total_seconds()), 1)  # a day of no hours is refused
    most = max_business_seconds(calendar)
    if offset.days * day + offset.hours * 3600 <= most:
        return None
    if offset.days:
        limit = f"{most // day} business_days, a year of this calendar's working days"
    else:
        limit = f"{most // 3600} business_hours, a year of this calendar's working hours"
    return f"invalid duration '{offset}': at most {limit}"


def _notify(
    n: NotifyModel,
    when: When | None,
    defaults: RuleDefaults,
    where: Path,
    errors: list[SchemaError],
) -> Notify | None:
    repeat = None
    if n.repeat is not None:
        if when is not None and when.event in _ONCE:
            msg = (
                f"'repeat' needs a lasting condition: 'on: {when.event}' happens once "
                "(use before_due, overdue or on: broken)"
            )
            errors.append(SchemaError((*where, "repeat"), msg))
        if len(n.repeat.messages) > n.repeat.max:
            errors.append(
                SchemaError((*where, "repeat", "messages"),
                            f"{len(n.repeat.messages)} messages for at most {n.repeat.max} repeats")
            )  # fmt: skip
        repeat = Repeat(n.repeat.every, n.repeat.max, tuple(n.repeat.messages))
    steps = _steps(n, where, errors)
    seen = [] if n.channel == "last_used" else [n.channel]
    for index, name in enumerate(n.fallback):
        if name in seen:
            msg = f"channel '{name}' appears twice in the channel and its fallback"
            errors.append(SchemaError((*where, "fallback", index), msg))
        seen.append(name)
    quiet = _quiet(n, defaults, where, errors)
    first = n.message[0]
    return Notify(first, n.channel, tuple(n.fallback), repeat, quiet, n.priority, steps)


def _steps(n: NotifyModel, where: Path, errors: list[SchemaError]) -> tuple[str, ...]:
    """The messages of ``message: [first, second, ...]``; () for a single name."""
    if len(n.message) == 1:
        return ()
    at = (*where, "message")
    if n.repeat is None:
        msg = f"{len(n.message)} messages but no 'repeat': only the first would ever be sent"
        errors.append(SchemaError(at, msg))
    elif n.repeat.messages:
        msg = "name the messages per step in 'message' or in 'repeat.messages', not both"
        errors.append(SchemaError(at, msg))
    elif len(n.message) - 1 > n.repeat.max:
        most = n.repeat.max + 1
        msg = f"{len(n.message)} messages for at most {most} notices (repeat max: {n.repeat.max})"
        errors.append(SchemaError(at, msg))
    return tuple(n.message)


def _quiet(
    n: NotifyModel, defaults: RuleDefaults, where: Path, errors: list[SchemaError]
) -> QuietHours | None:
    if "quiet_hours" not in n.model_fields_set:
        return defaults.quiet_hours
    q = n.quiet_hours
    if q is None:
        return None
    if (q.start is None) != (q.end is None):
        errors.append(
            SchemaError((*where, "quiet_hours"), "give both 'start' and 'end', or neither")
        )
        return None
    if q.start is not None and q.end is not None:
        return QuietHours(q.start, q.end, q.action)
    if defaults.quiet_hours is None:
        msg = "no global quiet hours are set: give 'start' and 'end'"
        errors.append(SchemaError((*where, "quiet_hours"), msg))
        return None
    return replace(defaults.quiet_hours, action=q.action)


def _escalate(
    model: RuleModel, when: When | None, where: Path, errors: list[SchemaError]
) -> Escalate | None:
    e = model.escalate
    if e is None:
        return None
    if e.after is None and e.broken is None:
        msg = "'escalate' needs 'after' (a number of notices) or 'broken' (a number of breaks)"
        errors.append(SchemaError((*where, "escalate"), msg))
    if when is not None and when.event in ("kept", "cancelled"):
        msg = f"nothing to escalate once a promise is {when.event}"
        errors.append(SchemaError((*where, "escalate"), msg))
    return Escalate(e.after, e.broken, e.to, e.message, e.priority)


def _calendar(
    c: CalendarModel | None, default: Calendar, where: Path, errors: list[SchemaError]
) -> Calendar:
    if c is None:
        return default
    per_customer = c.country == CUSTOMER_COUNTRY
    result = replace(
        default,
        country=c.country if c.country is not None and not per_customer else default.country,
        subdivision=c.subdivision,
        timezone=c.timezone if c.timezone is not None else default.timezone,
        customer_country=per_customer or (c.country is None and default.customer_country),
    )
    if per_customer:
        result = replace(result, country=None)
    if c.working_hours is not None:
        if c.working_hours.start >= c.working_hours.end:
            msg = "working hours must start before they end, on the same day"
            errors.append(SchemaError((*where, "working_hours"), msg))
        result = replace(
            result, workday_start=c.working_hours.start, workday_end=c.working_hours.end
        )
    if c.working_days is not None:
        if not c.working_days:
            errors.append(SchemaError((*where, "working_days"), "at least one working day"))
        result = replace(result, weekdays=frozenset(c.working_days))
    if c.subdivision is not None and result.customer_country:
        msg = "a subdivision needs a fixed country, not each customer's own"
        errors.append(SchemaError((*where, "subdivision"), msg))
    elif c.subdivision is not None:
        subdivisions = supported_countries().get(result.country or "", ())
        if c.subdivision not in subdivisions:
            hint = did_you_mean(c.subdivision, subdivisions)
            msg = f"unknown subdivision '{c.subdivision}' for country {result.country}{hint}"
            errors.append(SchemaError((*where, "subdivision"), msg))
    return result

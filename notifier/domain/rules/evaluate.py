"""The two pure functions the daemon calls: what is due now, and when to look again."""

from __future__ import annotations

from datetime import datetime

from notifier.domain.models import Customer, Promise, PromiseStatus
from notifier.domain.notices import Notice, SentLedger, dedupe_key
from notifier.domain.rules.match import matches, trace_match
from notifier.domain.rules.model import Rule, RuleSet
from notifier.domain.rules.stages import Moment, Skipped, escalation, timeline
from notifier.domain.rules.told import was_told
from notifier.domain.rules.trace import (
    EscalationWait,
    Recorder,
    RuleTrace,
    Skip,
    SkippedStep,
    StepStatus,
    StepTrace,
)


def due_notices(
    promise: Promise, customer: Customer, rules: RuleSet, sent: SentLedger, now: datetime
) -> list[Notice]:
    """Return the notices due at ``now`` that ``sent`` does not hold yet, in rule order.

    When several stages' moments have passed, only the latest fires: a late notice
    supersedes the at-risk one, a repeat the ones before it.
    """
    moments = _moments(promise, customer, rules, sent, now)
    return [_notice(m, promise) for m in moments if _is_due(m, moments, sent, now)]


def next_check_at(
    promise: Promise, customer: Customer, rules: RuleSet, sent: SentLedger, now: datetime
) -> datetime | None:
    """Return the next instant any rule could fire (``now`` if one is due), or None.

    An open promise is also checked at its deadline, so the daemon can mark it broken.
    """
    return _next(promise, _moments(promise, customer, rules, sent, now), sent, now)


def evaluate(
    promise: Promise,
    customer: Customer,
    rules: RuleSet,
    sent: SentLedger,
    now: datetime,
    recorder: Recorder | None = None,
) -> tuple[list[Notice], datetime | None]:
    """Return due_notices and, once they are recorded, next_check_at: one pass, same answers.

    The scan calls this for every due promise: the rule timelines are built once. A
    ``recorder`` hears, for every rule of the set, a trace of what this pass made of it;
    without one, no trace is built.
    """
    skips: list[tuple[Moment, Skip]] | None = None if recorder is None else []
    moments = _moments(promise, customer, rules, sent, now, _collect(skips))
    notices = [_notice(m, promise) for m in moments if _is_due(m, moments, sent, now)]
    after = sent.with_keys([n.dedupe_key for n in notices])
    # Recording them only turns due moments into sent ones: the escalation a rule reaches
    # is the same either way, so the same timelines answer the second question.
    upcoming = _next(promise, moments, after, now)
    if recorder is not None and skips is not None:
        for rule in rules.rules:
            recorder(rule_trace(rule, promise, customer, sent, now, moments, skips, notices, rules))
    return notices, upcoming


def rule_trace(
    rule: Rule,
    promise: Promise,
    customer: Customer,
    sent: SentLedger,
    now: datetime,
    moments: list[Moment],
    skips: list[tuple[Moment, Skip]],
    notices: list[Notice],
    rules: RuleSet | None = None,
) -> RuleTrace:
    """Return what one evaluation (its moments, skipped steps and notices) made of ``rule``.

    Every rule of the set is traced, also those the kind index passes over, so that an
    explain can say which condition kept a rule away.
    """
    match = trace_match(rule, promise, customer)
    if not match.matched:
        return RuleTrace(promise.id, now, match)
    if rules is not None and not was_told(rule, promise, rules, sent):
        # Its steps were not built: say whether any would apply, else that nobody was told.
        local: list[tuple[Moment, Skip]] = []
        applies = list(timeline(rule, promise, customer, now, sent, _collect(local)))
        why = () if applies else tuple(SkippedStep(m.stage, m.step, m.key, w) for m, w in local)
        return RuleTrace(promise.id, now, match, skipped=why, told=False)
    mine = [m for m in moments if m.rule is rule]
    steps = tuple(_step_trace(m, moments, sent, now) for m in mine)
    skipped = tuple(SkippedStep(m.stage, m.step, m.key, why) for m, why in skips if m.rule is rule)
    produced = tuple(n for n in notices if n.rule_id == rule.id)
    repeats = rule.notify.repeat.max if rule.notify.repeat else 0
    if rule.escalate is None:
        return RuleTrace(promise.id, now, match, steps, skipped, produced, repeats)
    reached = _reached(rule, promise, moments, sent, now)
    counted = 0 if reached is None else reached + 1
    wait = None if any(m.is_escalation for m in mine) else _escalation_wait(promise)
    return RuleTrace(promise.id, now, match, steps, skipped, produced, repeats, wait, counted)


def _step_trace(m: Moment, moments: list[Moment], sent: SentLedger, now: datetime) -> StepTrace:
    status = step_status(m, moments, sent, now)
    over = None
    if status == "superseded":
        over = next(o.key for o in moments if _supersedes(o, m, now))
    return StepTrace(m.stage, m.step, m.key, m.moment, m.at, status, over)


def _escalation_wait(promise: Promise) -> EscalationWait:
    return "settled" if promise.is_settled else "not_reached"


def _collect(skips: list[tuple[Moment, Skip]] | None) -> Skipped | None:
    if skips is None:
        return None

    def skipped(moment: Moment, why: Skip, /) -> None:
        skips.append((moment, why))

    return skipped


def _next(
    promise: Promise, moments: list[Moment], sent: SentLedger, now: datetime
) -> datetime | None:
    times = [
        m.at if m.at > now else now
        for m in moments
        if m.live and not sent.has(m.key) and (m.at > now or _is_due(m, moments, sent, now))
    ]
    if promise.status is PromiseStatus.OPEN and promise.due_at > now:
        times.append(promise.due_at)
    return min(times, default=None)


def _moments(
    promise: Promise,
    customer: Customer,
    rules: RuleSet,
    sent: SentLedger,
    now: datetime,
    skipped: Skipped | None = None,
) -> list[Moment]:
    matched = [
        rule
        for rule in rules.for_kind(promise.kind)
        if matches(rule, promise, customer) and was_told(rule, promise, rules, sent)
    ]
    moments = [m for rule in matched for m in timeline(rule, promise, customer, now, sent, skipped)]
    for rule in matched:
        found = escalation(rule, promise, customer, _reached(rule, promise, moments, sent, now))
        if found is not None:
            moments.append(found)
    return moments


def _reached(
    rule: Rule, promise: Promise, moments: list[Moment], sent: SentLedger, now: datetime
) -> int | None:
    """Return the highest customer step of ``rule`` sent before or due now, or None."""
    due_now = [
        m.step
        for m in moments
        if m.rule is rule and _is_due(m, moments, sent, now) and not m.is_escalation
    ]
    sent_before = _highest_sent(rule, promise, sent)
    return max([*due_now, *([sent_before] if sent_before is not None else [])], default=None)


def _highest_sent(rule: Rule, promise: Promise, sent: SentLedger) -> int | None:
    # Steps the promise's current state no longer produces may still have been sent.
    count = rule.notify.repeat.max if rule.notify.repeat else 0
    version = promise.deadline_version
    steps = [s for s in range(count + 1) if sent.has(dedupe_key(rule.id, promise.id, version, s))]
    return max(steps, default=None)


def _is_due(m: Moment, moments: list[Moment], sent: SentLedger, now: datetime) -> bool:
    return step_status(m, moments, sent, now) == "due"


def step_status(m: Moment, moments: list[Moment], sent: SentLedger, now: datetime) -> StepStatus:
    """Return whether the moment is due at ``now`` among ``moments``, or why it is not."""
    if not m.live:
        return "dropped_in_quiet_hours"
    if sent.has(m.key):
        return "already_sent"
    if m.at > now:
        return "not_yet_due"
    if m.at < now - m.rule.backfill:
        return "past_backfill"
    if any(_supersedes(other, m, now) for other in moments):
        return "superseded"
    return "due"


def _supersedes(later: Moment, earlier: Moment, now: datetime) -> bool:
    if later.at > now or later.is_escalation or earlier.is_escalation or later is earlier:
        return False
    if later.rule.id == earlier.rule.id:
        return later.step > earlier.step
    # Across rules, only a late-stage moment silences an at-risk one: two rules about
    # the same stage each speak, as ops wrote them.
    return later.rule.when.trigger == "overdue" and earlier.rule.when.trigger == "before_due"


def _notice(m: Moment, promise: Promise) -> Notice:
    rule = m.rule
    if m.is_escalation:
        assert rule.escalate is not None
        return Notice(
            dedupe_key=m.key, rule_id=rule.id, promise_id=promise.id,
            customer_id=promise.customer_id, deadline_version=promise.deadline_version,
            stage="escalated", step=m.step, message=rule.escalate.message, audience="ops",
            channel="email", fallback=(), priority=rule.escalate.priority, not_before=m.at,
            quiet_hours=None, reason=m.reason,
        )  # fmt: skip
    notify = rule.notify
    return Notice(
        dedupe_key=m.key, rule_id=rule.id, promise_id=promise.id,
        customer_id=promise.customer_id, deadline_version=promise.deadline_version,
        stage=m.stage, step=m.step, message=notify.message_for(m.step), audience="customer",
        channel=notify.channel, fallback=notify.fallback, priority=notify.priority,
        not_before=m.at, quiet_hours=notify.quiet_hours, reason=m.reason,
    )  # fmt: skip

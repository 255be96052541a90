"""The two pure functions the daemon calls: what is due now, and when to look again."""

from __future__ import annotations

from datetime import datetime

from notifier.domain.models import Customer, Promise, PromiseStatus
from notifier.domain.notices import Notice, SentLedger, dedupe_key
from notifier.domain.rules.match import matches
from notifier.domain.rules.model import Rule, RuleSet
from notifier.domain.rules.stages import Moment, escalation, timeline
from notifier.domain.rules.told import was_told


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
    promise: Promise, customer: Customer, rules: RuleSet, sent: SentLedger, now: datetime
) -> tuple[list[Notice], datetime | None]:
    """Return due_notices and, once they are recorded, next_check_at: one pass, same answers.

    The scan calls this for every due promise: the rule timelines are built once.
    """
    moments = _moments(promise, customer, rules, sent, now)
    notices = [_notice(m, promise) for m in moments if _is_due(m, moments, sent, now)]
    after = sent.with_keys([n.dedupe_key for n in notices])
    # Recording them only turns due moments into sent ones: the escalation a rule reaches
    # is the same either way, so the same timelines answer the second question.
    return notices, _next(promise, moments, after, now)


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
    promise: Promise, customer: Customer, rules: RuleSet, sent: SentLedger, now: datetime
) -> list[Moment]:
    matched = [
        rule
        for rule in rules.for_kind(promise.kind)
        if matches(rule, promise, customer) and was_told(rule, promise, rules, sent)
    ]
    moments = [m for rule in matched for m in timeline(rule, promise, customer, now, sent)]
    for rule in matched:
        due_now = [m.step for m in moments if m.rule is rule and _is_due(m, moments, sent, now)]
        sent_before = _highest_sent(rule, promise, sent)
        reached = max([*due_now, *([sent_before] if sent_before is not None else [])], default=None)
        found = escalation(rule, promise, customer, reached)
        if found is not None:
            moments.append(found)
    return moments


def _highest_sent(rule: Rule, promise: Promise, sent: SentLedger) -> int | None:
    # Steps the promise's current state no longer produces may still have been sent.
    count = rule.notify.repeat.max if rule.notify.repeat else 0
    version = promise.deadline_version
    steps = [s for s in range(count + 1) if sent.has(dedupe_key(rule.id, promise.id, version, s))]
    return max(steps, default=None)


def _is_due(m: Moment, moments: list[Moment], sent: SentLedger, now: datetime) -> bool:
    return (
        m.live
        and m.at <= now
        and m.at >= now - m.rule.backfill
        and not sent.has(m.key)
        and not any(_supersedes(other, m, now) for other in moments)
    )


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

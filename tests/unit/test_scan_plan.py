"""The scan's pure decisions: breaking a promise, the notices, holding for company."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.models import CustomerId, PlanError, PromiseId, PromiseStatus
from notifier.domain.notices import Notice, SentLedger
from notifier.domain.outbox import DuePromise
from notifier.domain.scan import MIN_RECHECK, hold_for_company, plan_promise, plan_retry_after
from tests.rules_fixtures import DUE, customer, promise, ruleset

RULES = ruleset(
    """
rules:
  - id: late
    match: {kind: delivery}
    when: {overdue: 1h}
    notify: {message: delivery_late, repeat: {every: 24h, max: 2}}
  - id: broken
    match: {kind: delivery}
    when: {on: broken}
    notify: {message: delivery_late}
"""
)


def _due(
    status: PromiseStatus = PromiseStatus.OPEN, sent: frozenset[str] = frozenset()
) -> DuePromise:
    return DuePromise(promise(status=status), customer(), SentLedger(sent))


def test_an_open_promise_past_its_deadline_breaks_and_on_broken_fires() -> None:
    change, notices = plan_promise(_due(), RULES, DUE + timedelta(minutes=5))
    assert change.broken
    assert [n.rule_id for n in notices] == ["broken"]
    assert change.next_check_at == DUE + timedelta(hours=1)  # the late stage


def test_before_the_deadline_nothing_breaks() -> None:
    change, notices = plan_promise(_due(), RULES, DUE - timedelta(hours=1))
    assert not change.broken and notices == []
    assert change.next_check_at == DUE


def test_a_kept_promise_is_left_alone() -> None:
    change, notices = plan_promise(_due(PromiseStatus.KEPT), RULES, DUE + timedelta(hours=2))
    assert not change.broken and notices == []


def test_a_forgotten_customer_gets_nothing_and_no_more_checks() -> None:
    due = DuePromise(promise(), customer(forgotten=True), SentLedger())
    change, notices = plan_promise(due, RULES, DUE + timedelta(hours=2))
    assert notices == [] and change.next_check_at is None


@given(st.timedeltas(min_value=timedelta(hours=-48), max_value=timedelta(days=5)))
def test_the_next_check_is_always_in_the_future(offset: timedelta) -> None:
    now = DUE + offset
    change, notices = plan_promise(_due(), RULES, now)
    assert change.next_check_at is None or change.next_check_at > now
    # Recording what was scheduled and planning again at the same instant adds nothing.
    sent = frozenset(n.dedupe_key for n in notices)
    again = DuePromise(
        promise(status=PromiseStatus.BROKEN if change.broken else PromiseStatus.OPEN,
                times_broken=int(change.broken)),
        customer(),
        SentLedger(sent),
    )  # fmt: skip
    assert plan_promise(again, RULES, now)[1] == []


def _notice(promise_id: int, *, priority: str = "normal", audience: str = "customer") -> Notice:
    _, notices = plan_promise(
        DuePromise(promise(id=promise_id), customer(), SentLedger()),
        RULES,
        DUE + timedelta(hours=2),
    )
    return replace(notices[0], priority=priority, audience=audience)  # type: ignore[arg-type]


NOW = DUE + timedelta(hours=2)
WINDOW = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("upcoming", "priority", "audience", "expected"),
    [
        pytest.param([], "normal", "customer", NOW, id="lone-notice-goes-now"),
        pytest.param([(8, NOW + timedelta(minutes=4))], "normal", "customer",
                     NOW + timedelta(minutes=4), id="waits-for-the-other-promise"),
        pytest.param([(8, NOW + timedelta(minutes=20))], "normal", "customer", NOW,
                     id="other-check-too-far"),
        pytest.param([(7, NOW + timedelta(minutes=4))], "normal", "customer", NOW,
                     id="own-next-stage-does-not-count"),
        pytest.param([(8, NOW + timedelta(minutes=4))], "critical", "customer", NOW,
                     id="critical-never-waits"),
        pytest.param([(8, NOW + timedelta(minutes=4))], "normal", "ops", NOW,
                     id="ops-never-waits"),
    ],
)  # fmt: skip
def test_hold_for_company(
    upcoming: list[tuple[int, datetime]], priority: str, audience: str, expected: datetime
) -> None:
    n = _notice(7, priority=priority, audience=audience)
    checks = {CustomerId("c-1"): [(PromiseId(pid), at) for pid, at in upcoming]}
    (scheduled,) = hold_for_company([n], checks, WINDOW, NOW)
    assert scheduled.not_before == expected
    assert (scheduled.held is not None) == (expected != NOW)


def test_min_recheck_is_positive() -> None:
    assert timedelta(0) < MIN_RECHECK


FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)  # the late stage's moment overflows


def test_a_promise_a_rule_cannot_compute_with_gets_a_plan_error_naming_that_rule() -> None:
    due = DuePromise(promise(due_at=FAR), customer(), SentLedger())
    change, notices = plan_promise(due, RULES, NOW)
    assert notices == [] and not change.broken and change.report
    assert change.error is not None
    assert (change.error.rule, change.error.count, change.error.since) == ("late", 1, NOW)
    assert change.error.reason.startswith("rule late: OverflowError: ")
    assert change.next_check_at == NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("previous_reason", "report"),
    [
        pytest.param("rule late: OverflowError: date value out of range", False, id="same"),
        pytest.param("rule late: KeyError: 'x'", True, id="reason-changed"),
    ],
)
def test_a_run_of_plan_errors_counts_up_and_reports_only_what_changed(
    previous_reason: str, report: bool
) -> None:
    since = NOW - timedelta(hours=3)
    before = replace(promise(due_at=FAR), plan_error=PlanError("late", previous_reason, 4, since))
    change, _ = plan_promise(DuePromise(before, customer(), SentLedger()), RULES, NOW)
    assert change.error is not None
    assert (change.error.count, change.error.since, change.report) == (5, since, report)
    assert change.next_check_at == NOW + timedelta(minutes=16)


def test_planning_again_successfully_clears_the_error() -> None:
    before = replace(promise(), plan_error=PlanError("late", "rule late: boom", 2, NOW))
    change, _ = plan_promise(DuePromise(before, customer(), SentLedger()), RULES, NOW)
    assert change.error is None and not change.report


@pytest.mark.parametrize(
    ("failures", "minutes"),
    [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (8, 60), (10**6, 60)],
    ids=lambda v: str(v),
)
def test_plan_retries_back_off_from_a_minute_to_an_hour(failures: int, minutes: int) -> None:
    assert plan_retry_after(failures) == timedelta(minutes=minutes)

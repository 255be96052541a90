"""Planning a batch: the lookahead it asks for, and the checks that hold its notices."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from notifier.domain.forecast import Conditions, World
from notifier.domain.models import CustomerId, PlanError, PromiseId
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import DuePromise, PromiseChange
from notifier.domain.scan import Checks, Lookahead, Planned, plan_due, schedule
from notifier.domain.simulation import _Run
from tests.rules_fixtures import DUE, customer, promise, ruleset

RULES = ruleset(
    """
rules:
  - id: late
    match: {kind: delivery}
    when: {overdue: 1h}
    notify: {message: delivery_late}
"""
)
NOW = DUE + timedelta(hours=2)
WINDOW = timedelta(minutes=10)
SOON = NOW + timedelta(minutes=4)
C1 = CustomerId("c-1")
ERROR = PlanError("late", "rule late: OverflowError", 1, NOW)


def _due(pid: int, *, due_at: datetime = DUE) -> DuePromise:
    return DuePromise(promise(id=pid, due_at=due_at), customer(), SentLedger())


def test_a_batch_without_notices_asks_nothing_and_schedules_nothing() -> None:
    planned = plan_due([_due(1, due_at=NOW + timedelta(hours=5))], RULES, NOW)
    assert planned.notices == [] and len(planned.changes) == 1
    assert planned.lookahead(NOW, WINDOW) is None
    assert schedule(planned, {}, WINDOW, NOW) == []


def test_a_batch_with_notices_asks_for_their_customers_checks_in_the_window() -> None:
    planned = plan_due([_due(1), _due(2)], RULES, NOW)
    assert [n.promise_id for n in planned.notices] == [1, 2]
    assert planned.lookahead(NOW, WINDOW) == Lookahead([C1], NOW, NOW + WINDOW)


def _held(stored: Checks, earlier: Checks, own_check: datetime | None) -> datetime:
    """Return when promise 1's notice goes, with promise 2's next check ``own_check``."""
    (notice,) = plan_due([_due(1)], RULES, NOW).notices
    changes = [PromiseChange(promise(id=1), None)]
    if own_check is not None:
        changes.append(PromiseChange(promise(id=2), own_check))
    (scheduled,) = schedule(Planned(changes, [notice]), stored, WINDOW, NOW, earlier)
    return scheduled.not_before


@pytest.mark.parametrize(
    ("stored", "earlier", "own_check", "expected"),
    [
        pytest.param({}, {}, None, NOW, id="alone"),
        pytest.param({C1: [(PromiseId(2), SOON)]}, {}, None, SOON, id="a-stored-check"),
        pytest.param({}, {C1: [(PromiseId(2), SOON)]}, None, SOON, id="an-earlier-batch's-check"),
        pytest.param({}, {}, SOON, SOON, id="this-batch's-own-new-check"),
        pytest.param({}, {}, NOW + timedelta(minutes=30), NOW, id="own-check-too-far"),
    ],
)  # fmt: skip
def test_a_notice_waits_for_any_check_of_its_customer_soon(
    stored: Checks, earlier: Checks, own_check: datetime | None, expected: datetime
) -> None:
    assert _held(stored, earlier, own_check) == expected


def test_a_promise_in_plan_error_sets_no_check_anyone_waits_for() -> None:
    (notice,) = plan_due([_due(1)], RULES, NOW).notices
    failed = PromiseChange(promise(id=2), SOON, error=ERROR)
    planned = Planned([PromiseChange(promise(id=1), None), failed], [notice])
    assert planned.checks() == {}
    assert schedule(planned, {}, WINDOW, NOW)[0].not_before == NOW


def test_the_simulated_store_answers_the_lookahead_as_the_store_does() -> None:
    checked = [
        replace(promise(id=2), next_check_at=SOON),
        replace(promise(id=3), next_check_at=SOON, plan_error=ERROR),  # expects no notice
        replace(promise(id=4), next_check_at=NOW + timedelta(minutes=30)),  # too far
        replace(promise(id=5), next_check_at=NOW),  # due now: not "after"
    ]
    world = World([DuePromise(p, customer(), SentLedger()) for p in checked])
    run = _Run(world, RULES, Conditions(available=frozenset({"sms"})), NOW)
    assert run.next_checks([C1, CustomerId("c-2")], NOW, NOW + WINDOW) == {C1: [(2, SOON)]}

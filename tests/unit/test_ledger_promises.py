"""The promise lifecycle rules: settling, rescheduling, and revising by upsert, pinned."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.ingest import PromiseData, RowError
from notifier.domain.ledger import (
    UNSTORED,
    Refusal,
    Revision,
    open_promise,
    reschedule,
    revise,
    settle,
)
from notifier.domain.models import (
    CustomerId,
    PlanError,
    Promise,
    PromiseEventType,
    PromiseId,
    PromiseStatus,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=5)
DUE = T0 + timedelta(days=2)
START = DUE - timedelta(hours=4)
FAILING = PlanError(rule="late", reason="late: KeyError: 'x'", count=3, since=T0)
OPEN, KEPT, BROKEN, CANCELLED = (
    PromiseStatus.OPEN,
    PromiseStatus.KEPT,
    PromiseStatus.BROKEN,
    PromiseStatus.CANCELLED,
)


def _promise(status: PromiseStatus = OPEN, **changes: object) -> Promise:
    base = Promise(
        id=PromiseId(7), customer_id=CustomerId("c1"), kind="delivery", status=status,
        due_at=DUE, external_ref="ord-7", created_at=T0, updated_at=T0, status_changed_at=T0,
        window_start=START, attributes={"carrier": "oca"}, deadline_version=2,
        times_broken=1, next_check_at=DUE, plan_error=FAILING,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def _item(**changes: object) -> PromiseData:
    base = PromiseData(
        customer_id=CustomerId("c1"), kind="delivery", due_at=DUE, external_ref="ord-7",
        window_start=START, attributes={"carrier": "oca"},
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "event", "outcome"),
    [
        (OPEN, PromiseEventType.KEPT, KEPT),
        (BROKEN, PromiseEventType.KEPT, KEPT),
        (KEPT, PromiseEventType.KEPT, "no-op"),
        (CANCELLED, PromiseEventType.KEPT, "refused"),
        (OPEN, PromiseEventType.CANCELLED, CANCELLED),
        (BROKEN, PromiseEventType.CANCELLED, CANCELLED),
        (CANCELLED, PromiseEventType.CANCELLED, "no-op"),
        (KEPT, PromiseEventType.CANCELLED, "refused"),
    ],
)
def test_settle_transitions(
    status: PromiseStatus, event: PromiseEventType, outcome: PromiseStatus | str
) -> None:
    before = _promise(status)
    after = settle(before, event, NOW)
    if outcome == "no-op":
        assert after is before
    elif outcome == "refused":
        assert after == Refusal(f"promise 7 is {status.value}; it cannot be {event.value}")
    else:
        assert after == replace(
            before, status=outcome, status_changed_at=NOW, updated_at=NOW, next_check_at=NOW,
            plan_error=None,
        )  # fmt: skip


def test_settle_accepts_only_keep_and_cancel() -> None:
    with pytest.raises(KeyError):
        settle(_promise(), PromiseEventType.RESCHEDULED, NOW)


@pytest.mark.parametrize("status", [OPEN, BROKEN])
def test_reschedule_moves_the_deadline_to_a_new_version_counted_as_broken(
    status: PromiseStatus,
) -> None:
    before = _promise(status)
    after = reschedule(before, DUE + timedelta(days=1), None, NOW)
    assert after == replace(
        before, due_at=DUE + timedelta(days=1), window_start=None, deadline_version=3,
        times_broken=2, status=OPEN, status_changed_at=NOW, updated_at=NOW, next_check_at=NOW,
        plan_error=None,
    )  # fmt: skip


@pytest.mark.parametrize("status", [OPEN, BROKEN])
def test_reschedule_to_a_new_window_alone_is_a_reschedule(status: PromiseStatus) -> None:
    after = reschedule(_promise(status), DUE, START - timedelta(hours=1), NOW)
    assert isinstance(after, Promise)
    assert (after.due_at, after.window_start, after.deadline_version) == (
        DUE,
        START - timedelta(hours=1),
        3,
    )


@pytest.mark.parametrize("status", [OPEN, BROKEN])
def test_reschedule_to_the_same_deadline_is_a_no_op(status: PromiseStatus) -> None:
    before = _promise(status)
    assert reschedule(before, DUE, START, NOW) is before


@pytest.mark.parametrize("status", [KEPT, CANCELLED])
def test_reschedule_of_a_settled_promise_is_refused_even_to_the_same_deadline(
    status: PromiseStatus,
) -> None:
    expected = Refusal(f"promise 7 is {status.value}; a settled promise cannot be rescheduled")
    assert reschedule(_promise(status), DUE + timedelta(days=1), None, NOW) == expected
    assert reschedule(_promise(status), DUE, START, NOW) == expected


def test_revise_the_same_values_changes_nothing() -> None:
    before = _promise()
    assert revise(before, _item(), NOW) == Revision(before)
    assert revise(before, _item(), NOW).promise is before  # type: ignore[union-attr]


def test_revise_for_another_customer_is_a_row_error() -> None:
    assert revise(_promise(), _item(customer_id=CustomerId("c2")), NOW) == RowError(
        "customer_id", "external_ref 'ord-7' belongs to customer 'c1'"
    )


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"kind": "refund"}, ["kind"]),
        ({"estimate_at": DUE - timedelta(hours=1)}, ["estimate_at"]),
        ({"attributes": {"carrier": "dhl"}}, ["attributes"]),
        ({"kind": "refund", "attributes": {}}, ["attributes", "kind"]),
    ],
)
def test_revise_an_edit_is_an_update_naming_the_columns_and_re_arming(
    change: dict[str, object], fields: list[str]
) -> None:
    before = _promise(BROKEN)
    revision = revise(before, _item(**change), NOW)
    assert revision == Revision(
        replace(before, **change, updated_at=NOW, next_check_at=NOW, plan_error=None),  # type: ignore[arg-type]
        PromiseEventType.UPDATED,
        {"fields": [*fields, "next_check_at", "updated_at"]},
    )


def test_revise_a_new_deadline_is_a_reschedule_carrying_the_edits() -> None:
    before = _promise(BROKEN)
    later = DUE + timedelta(days=1)
    revision = revise(before, _item(due_at=later, window_start=None, kind="refund"), NOW)
    after = replace(
        before, kind="refund", due_at=later, window_start=None, deadline_version=3,
        times_broken=2, status=OPEN, status_changed_at=NOW, updated_at=NOW,
        next_check_at=NOW, plan_error=None,
    )  # fmt: skip
    assert revision == Revision(
        after,
        PromiseEventType.RESCHEDULED,
        {
            "old_due_at": DUE.isoformat(),
            "new_due_at": later.isoformat(),
            "old_window_start": START.isoformat(),
            "new_window_start": None,
        },
    )


def test_revise_a_new_window_alone_is_a_reschedule() -> None:
    revision = revise(_promise(), _item(window_start=START + timedelta(hours=1)), NOW)
    assert isinstance(revision, Revision)
    assert revision.event is PromiseEventType.RESCHEDULED
    assert revision.promise.deadline_version == 3


@pytest.mark.parametrize("status", [KEPT, CANCELLED])
def test_revise_a_settled_promise_ignores_a_new_due_at(status: PromiseStatus) -> None:
    before = _promise(status)
    assert revise(before, _item(due_at=DUE + timedelta(days=1)), NOW) == Revision(before)


@pytest.mark.parametrize("status", [KEPT, CANCELLED])
def test_revise_a_settled_promise_edits_its_window_as_an_update(status: PromiseStatus) -> None:
    before = _promise(status)
    revision = revise(before, _item(window_start=None), NOW)
    assert revision == Revision(
        replace(before, window_start=None, updated_at=NOW, next_check_at=NOW, plan_error=None),
        PromiseEventType.UPDATED,
        {"fields": ["next_check_at", "updated_at", "window_start"]},
    )


def test_a_new_promise_is_open_at_its_first_deadline_version_and_checked_now() -> None:
    item = _item(estimate_at=DUE - timedelta(hours=1))
    assert open_promise(item, NOW) == Promise(
        id=UNSTORED, customer_id=CustomerId("c1"), kind="delivery", status=OPEN, due_at=DUE,
        external_ref="ord-7", created_at=NOW, updated_at=NOW, status_changed_at=NOW,
        window_start=START, estimate_at=DUE - timedelta(hours=1),
        attributes={"carrier": "oca"}, deadline_version=1, times_broken=0, next_check_at=NOW,
    )  # fmt: skip

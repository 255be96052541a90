"""The shipped rules of issue 22's bills, payments, cards and cancellations (helper A).

Each moment fires from the ledger alone: its kind, its state, the attributes upstream
sends; a closing note only after the customer heard the bad news from us.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.domain.models import PromiseStatus
from notifier.domain.rules import RuleSet
from tests.rules_fixtures import DUE, fired, promise, shipped_rules

M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return shipped_rules()


def test_a_late_bill_gets_its_apology_after_the_grace(shipped: RuleSet) -> None:
    bill = promise(kind="bill", status=PromiseStatus.BROKEN, changed_at=DUE, times_broken=1)
    assert fired(bill, shipped, DUE + 2 * H) == []  # held 15 min: an issue a bit late wins
    assert fired(bill, shipped, DUE + 2 * H + 15 * M) == [
        ("bill-late", "bill_late"),
        ("bill-late", "escalation"),  # a person issues it: ops hear at once
    ]


def test_a_wrong_bill_is_told_once_it_is_broken_with_its_issue(shipped: RuleSet) -> None:
    wrong = promise(
        kind="bill",
        status=PromiseStatus.BROKEN,
        changed_at=DUE - 3 * H,
        times_broken=1,
        attributes={"bill_issue": "wrong_amount"},
    )
    assert fired(wrong, shipped, DUE - 3 * H + 5 * M) == []
    found = fired(wrong, shipped, DUE - 3 * H + 10 * M)
    assert found == [("bill-wrong", "bill_wrong")]
    # Past its deadline the wrong bill is not also called late.
    assert "bill-late" not in [r for r, _ in fired(wrong, shipped, DUE + 3 * H)]


CORRECTED = [("bill-corrected", "bill_corrected")]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param((), [], id="issued-on-time-gets-nothing"),
        pytest.param(("bill-late:7:1:0",), CORRECTED, id="after-late"),
        pytest.param(("bill-wrong:7:1:0",), CORRECTED, id="after-wrong"),
        pytest.param(("bill-late:7:1:1000",), [], id="only-ops-heard"),
    ],
)  # fmt: skip
def test_the_corrected_bill_closes_the_loop_only_after_bad_news(
    shipped: RuleSet, sent: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    kept = promise(kind="bill", status=PromiseStatus.KEPT, changed_at=DUE + 4 * H)
    assert fired(kept, shipped, DUE + 4 * H + 5 * M, *sent) == expected


def test_a_failed_charge_is_told_with_its_reason_only(shipped: RuleSet) -> None:
    failed = promise(
        kind="payment",
        status=PromiseStatus.BROKEN,
        changed_at=DUE,
        times_broken=1,
        attributes={"failure_reason": "card_expired", "amount": 12999},
    )
    assert fired(failed, shipped, DUE + 4 * M) == []  # a retry that succeeds at once wins
    assert fired(failed, shipped, DUE + 5 * M) == [("payment-failed", "payment_failed")]
    # A deadline that passed with no failure reported says nothing to the customer.
    passed = promise(kind="payment", status=PromiseStatus.BROKEN, changed_at=DUE, times_broken=1)
    assert fired(passed, shipped, DUE + 5 * H) == []


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param((), [], id="paid-with-no-trouble-gets-nothing"),
        pytest.param(("payment-failed:7:1:0",), [("payment-received", "payment_received")],
                     id="after-the-failure"),
    ],
)  # fmt: skip
def test_the_payment_received_closes_the_loop_only_after_a_failure(
    shipped: RuleSet, sent: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    kept = promise(kind="payment", status=PromiseStatus.KEPT, changed_at=DUE + 4 * H)
    assert fired(kept, shipped, DUE + 4 * H + 5 * M, *sent) == expected


def test_a_late_card_is_apologised_for_and_ops_hear(shipped: RuleSet) -> None:
    card = promise(kind="card", status=PromiseStatus.BROKEN, changed_at=DUE, times_broken=1)
    assert fired(card, shipped, DUE + 2 * H) == []
    assert fired(card, shipped, DUE + 2 * H + 15 * M) == [
        ("card-late", "card_late"),
        ("card-late", "escalation"),
    ]


@pytest.mark.parametrize(
    ("kind", "who", "expected"),
    [
        pytest.param("delivery", "company", [("cancelled-by-us", "cancelled_by_us")], id="us"),
        pytest.param("order", "company", [("cancelled-by-us", "cancelled_by_us")], id="order"),
        pytest.param("delivery", "customer", [], id="the-customer-asked"),
        pytest.param("delivery", None, [], id="nobody-said-who"),
    ],
)  # fmt: skip
def test_only_a_cancellation_by_us_is_apologised_for(
    shipped: RuleSet, kind: str, who: str | None, expected: list[tuple[str, str]]
) -> None:
    attributes = {"cancelled_by": who} if who else {}
    gone = promise(
        kind=kind, status=PromiseStatus.CANCELLED, changed_at=DUE - 2 * H, attributes=attributes
    )
    assert fired(gone, shipped, DUE - 2 * H + 4 * M) == []
    assert fired(gone, shipped, DUE - 2 * H + 5 * M) == expected


@pytest.mark.parametrize(
    ("kind", "rule", "follow_up"),
    [("bill", "bill-late", "bill_still_late"), ("card", "card-late", "card_still_late")],
)
def test_two_days_later_the_follow_up_moves_on(
    shipped: RuleSet, kind: str, rule: str, follow_up: str
) -> None:
    late = promise(kind=kind, status=PromiseStatus.BROKEN, changed_at=DUE, times_broken=1)
    first = DUE + 2 * H + 15 * M
    told = (f"{rule}:7:1:0", f"{rule}:7:1:1000")
    assert fired(late, shipped, first + 47 * H, *told) == []
    assert fired(late, shipped, first + 48 * H, *told) == [(rule, follow_up)]
    assert fired(late, shipped, first + 96 * H, *(*told, f"{rule}:7:1:1")) == []  # no copies


def test_a_bill_issue_reported_days_after_the_break_still_speaks(shipped: RuleSet) -> None:
    issue = {"bill_issue": "duplicate_charge"}
    wrong = promise(
        kind="bill", status=PromiseStatus.BROKEN, changed_at=DUE, times_broken=1, attributes=issue
    )
    assert fired(wrong, shipped, DUE + 6 * 24 * H) == [("bill-wrong", "bill_wrong")]
    assert fired(wrong, shipped, DUE + 8 * 24 * H) == []  # past its backfill: too old to say

"""The shipped rules of issue 22's moments (helper B): which message goes, and when.

Medical appointments, complaints, workshop repairs, a technician who did not come and a
case escalated to a person, each driven through the shipped rule set as the scan does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from notifier.domain.models import Promise, PromiseStatus
from notifier.domain.notices import SentLedger
from notifier.domain.rules import RuleSet, next_check_at
from tests.rules_fixtures import DUE, customer, fired, promise, shipped_rules

M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return shipped_rules()


def made_at(p: Promise, at: datetime) -> Promise:
    return replace(p, created_at=at, updated_at=at, status_changed_at=at)


def test_every_moment_reaches_a_customer_with_no_channel_used_yet(rules: RuleSet) -> None:
    # channel: last_used with nothing used yet and no fallback suppresses the notice.
    mine = {"medical-reminder", "medical-moved", "medical-cancelled", "complaint-received",
            "complaint-late", "complaint-resolved", "repair-late", "repair-ready",
            "technician-no-show", "callback-person"}  # fmt: skip
    found = {r.id: r.notify.fallback for r in rules.rules if r.id in mine}
    assert found == dict.fromkeys(mine, ("sms", "email"))


# DUE is Tuesday 12:00 in Buenos Aires.
def test_the_medical_reminder_goes_the_day_before(rules: RuleSet) -> None:
    p = promise(kind="medical_appointment", attributes={"bring": "DNI"})
    assert next_check_at(p, customer(), rules, SentLedger(), DUE - 2 * 24 * H) == DUE - 24 * H
    assert fired(p, rules, DUE - 24 * H - M) == []
    assert fired(p, rules, DUE - 24 * H) == [("medical-reminder", "medical_reminder")]
    cancelled = replace(p, status=PromiseStatus.CANCELLED, status_changed_at=DUE - 30 * H)
    assert ("medical-reminder", "medical_reminder") not in fired(cancelled, rules, DUE - 24 * H)


def test_a_moved_appointment_is_told_once_it_settles(rules: RuleSet) -> None:
    moved = DUE - 3 * 24 * H
    p = promise(kind="medical_appointment", version=2, changed_at=moved)
    assert fired(p, rules, moved + 5 * M) == []
    assert fired(p, rules, moved + 10 * M) == [("medical-moved", "medical_moved")]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({}, [("medical-cancelled", "medical_cancelled")], id="we-cancelled"),
        pytest.param({"cancelled_by": "clinic"}, [("medical-cancelled", "medical_cancelled")],
                     id="the-clinic-cancelled"),
        pytest.param({"cancelled_by": "customer"}, [], id="the-patient-cancelled"),
    ],
)  # fmt: skip
def test_a_cancellation_apologises_only_when_it_was_ours(
    rules: RuleSet, attributes: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    at = DUE - 2 * 24 * H
    p = promise(
        kind="medical_appointment",
        status=PromiseStatus.CANCELLED,
        changed_at=at,
        attributes=attributes,
    )
    assert fired(p, rules, at + 5 * M) == expected


def test_a_complaint_is_acknowledged_at_once_with_its_answer_date(rules: RuleSet) -> None:
    arrived = DUE - 5 * 24 * H  # the answer is promised five days later
    p = made_at(promise(kind="complaint"), arrived)
    assert next_check_at(p, customer(), rules, SentLedger(), arrived) == arrived
    assert fired(p, rules, arrived) == [("complaint-received", "complaint_received")]
    # Told once: the acknowledgement is not repeated.
    assert fired(p, rules, arrived + H, "complaint-received:7:1:0") == []


def test_a_late_answer_apologises_and_ops_hear_at_once(rules: RuleSet) -> None:
    p = made_at(promise(kind="complaint", status=PromiseStatus.BROKEN), DUE - 5 * 24 * H)
    told = "complaint-received:7:1:0"
    assert fired(p, rules, DUE + H, told) == []
    assert fired(p, rules, DUE + H + 15 * M, told) == [
        ("complaint-late", "complaint_late"),
        ("complaint-late", "escalation"),  # "pasamos tu reclamo a una persona" is true
    ]
    both = ("complaint-late:7:1:0", "complaint-late:7:1:1000")
    assert fired(p, rules, DUE + 2 * H, told, *both) == []  # once per deadline


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param(("complaint-received:7:1:0",),
                     [("complaint-resolved", "complaint_resolved")], id="after-the-ack"),
        pytest.param(("complaint-late:7:1:0",),
                     [("complaint-resolved", "complaint_resolved")], id="after-the-apology"),
        pytest.param((), [], id="never-told"),
    ],
)  # fmt: skip
def test_a_resolved_complaint_closes_the_loop_we_opened(
    rules: RuleSet, sent: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    at = DUE - 24 * H  # resolved on Monday 12:00 in Buenos Aires
    p = promise(kind="complaint", status=PromiseStatus.KEPT, changed_at=at)
    assert fired(p, rules, at + 5 * M, *sent) == expected


def test_a_late_repair_apologises_and_a_ready_one_is_told(rules: RuleSet) -> None:
    late = promise(kind="device_repair", status=PromiseStatus.BROKEN, times_broken=1)
    assert fired(late, rules, DUE + H + 15 * M) == [("repair-late", "repair_late")]
    ready_at = DUE + 2 * 24 * H
    ready = promise(kind="device_repair", status=PromiseStatus.KEPT, changed_at=ready_at)
    assert fired(ready, rules, ready_at + 5 * M) == [("repair-ready", "repair_ready")]
    # A workshop repair is not a technician's visit: a new date is no "new window".
    moved = promise(kind="device_repair", version=2, changed_at=DUE - 24 * H)
    assert fired(moved, rules, DUE - 23 * H) == []


def test_a_technician_who_did_not_come(rules: RuleSet) -> None:
    window = {"window_start": DUE - 3 * H}
    tracked = {"checkin_tracked": True}
    untracked = promise(kind="appointment", **window)  # type: ignore[arg-type]  # a datetime
    # Upstream does not say it keeps visits at check-in: an open visit proves nothing.
    assert fired(untracked, rules, DUE + 45 * M) == []
    visit = promise(kind="appointment", attributes=tracked, **window)  # type: ignore[arg-type]
    assert fired(visit, rules, DUE + 44 * M) == []
    assert fired(visit, rules, DUE + 45 * M) == [
        ("technician-no-show", "technician_no_show"),
        ("technician-no-show", "escalation"),  # ops hear at once, to give a new time
    ]
    checked_in = replace(visit, status=PromiseStatus.KEPT, status_changed_at=DUE - 2 * H)
    assert fired(checked_in, rules, DUE + 45 * M) == []
    repair = promise(kind="repair", attributes={"checkin_tracked": "true"}, **window)  # type: ignore[arg-type]
    assert ("technician-no-show", "technician_no_show") in fired(repair, rules, DUE + 45 * M)


def test_a_person_calls_before_the_time_given(rules: RuleSet) -> None:
    escalated = {"escalated": True, "reason": "factura"}
    soon = made_at(promise(kind="callback", attributes=escalated), DUE - 3 * H)
    assert fired(soon, rules, DUE - 3 * H) == [("callback-person", "callback_person")]
    later = made_at(promise(kind="callback", attributes=escalated), DUE - 2 * 24 * H)
    # 12 hours before is midnight in Buenos Aires: quiet hours hold it until 08:00.
    morning = DUE - 4 * H
    assert next_check_at(later, customer(), rules, SentLedger(), DUE - 2 * 24 * H) == morning
    as_text = {"escalated": "true"}  # what `promise add --attr` and a CSV import send
    typed = made_at(promise(kind="callback", attributes=as_text), DUE - 3 * H)
    assert fired(typed, rules, DUE - 3 * H) == [("callback-person", "callback_person")]
    plain = made_at(promise(kind="callback"), DUE - 3 * H)
    assert fired(plain, rules, DUE - 3 * H) == []

"""due_notices and next_check_at, stage by stage: tables of promise, time and outcome."""
# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from notifier.domain.models import PromiseStatus
from notifier.domain.notices import SentLedger
from notifier.domain.quiet_hours import QuietAction, QuietHours
from notifier.domain.rules import RuleDefaults, due_notices, next_check_at
from tests.rules_fixtures import DUE, customer, matching, promise, ruleset

H = timedelta(hours=1)
DELIVERY = """
rules:
  - id: delivery-at-risk
    match: {kind: delivery}
    when: {before_due: 4h}
    notify: {message: delivery_at_risk}
  - id: delivery-late
    match: {kind: delivery}
    when: {overdue: 1h}
    notify:
      message: delivery_late
      fallback: [sms, email]
      repeat: {every: 24h, max: 3, messages: [several_late]}
    escalate: {after: 3, to: ops}
"""


def keys(now: datetime, sent: frozenset[str] = frozenset(), **kw: object) -> list[str]:
    rules = ruleset(DELIVERY)
    found = due_notices(promise(**kw), customer(), rules, SentLedger(sent), now)  # type: ignore[arg-type]
    return [n.dedupe_key for n in found]


@pytest.mark.parametrize(
    ("now", "sent", "expected"),
    [
        pytest.param(DUE - 5 * H, (), [], id="nothing-yet"),
        pytest.param(DUE - 4 * H, (), ["delivery-at-risk:7:1:0"], id="at-risk"),
        pytest.param(DUE - 4 * H, ("delivery-at-risk:7:1:0",), [], id="at-risk-sent"),
        pytest.param(DUE + H, ("delivery-at-risk:7:1:0",), ["delivery-late:7:1:0"], id="late"),
        pytest.param(DUE + 2 * H, (), ["delivery-late:7:1:0"], id="late-silences-at-risk"),
        pytest.param(DUE + 25 * H, ("delivery-late:7:1:0",), ["delivery-late:7:1:1"], id="repeat-1"),
        pytest.param(DUE + 49 * H, ("delivery-late:7:1:0", "delivery-late:7:1:1"),
                     ["delivery-late:7:1:2", "delivery-late:7:1:1000"], id="third-notice-escalates"),
        pytest.param(DUE + 50 * H, ("delivery-late:7:1:0",),
                     ["delivery-late:7:1:2", "delivery-late:7:1:1000"], id="only-latest-repeat"),
        pytest.param(
            DUE + 49 * H,
            ("delivery-late:7:1:0", "delivery-late:7:1:1", "delivery-late:7:1:2"),
            ["delivery-late:7:1:1000"],
            id="escalate-after-3",
        ),
        pytest.param(
            DUE + 73 * H,
            ("delivery-late:7:1:2",),
            ["delivery-late:7:1:3", "delivery-late:7:1:1000"],
            id="skipped-steps-count-for-escalation",
        ),
        pytest.param(DUE + 200 * H, ("delivery-late:7:1:0",), [], id="backfill-limit"),
    ],
)  # fmt: skip
def test_delivery_stages(now: datetime, sent: tuple[str, ...], expected: list[str]) -> None:
    assert keys(now, frozenset(sent)) == expected


@pytest.mark.parametrize(
    ("status", "now", "expected"),
    [
        pytest.param(PromiseStatus.KEPT, DUE + 2 * H, [], id="kept-stops-late"),
        pytest.param(PromiseStatus.CANCELLED, DUE - 3 * H, [], id="cancelled-stops-at-risk"),
        pytest.param(PromiseStatus.BROKEN, DUE + 2 * H, ["delivery-late:7:1:0"], id="broken-is-late"),
        pytest.param(PromiseStatus.BROKEN, DUE - 3 * H, [], id="broken-is-not-at-risk"),
    ],
)  # fmt: skip
def test_status_gates_stages(status: PromiseStatus, now: datetime, expected: list[str]) -> None:
    assert keys(now, status=status) == expected


def test_notice_fields_and_per_step_message() -> None:
    rules = ruleset(DELIVERY)
    sent = SentLedger(frozenset({"delivery-late:7:1:0"}))
    [notice] = due_notices(promise(), customer(), rules, sent, DUE + 26 * H)
    assert notice.stage == "repeat"
    assert notice.step == 1
    assert notice.message == "several_late"
    assert notice.channel == "last_used"
    assert notice.fallback == ("sms", "email")
    assert notice.audience == "customer"
    assert notice.not_before == DUE + 25 * H
    assert notice.reason == "repeat 1 of 3 (every 1d), rule delivery-late"


def test_escalation_goes_to_ops_by_email() -> None:
    sent = SentLedger(frozenset(f"delivery-late:7:1:{s}" for s in range(3)))
    [notice] = due_notices(promise(), customer(), ruleset(DELIVERY), sent, DUE + 50 * H)
    assert (notice.audience, notice.channel, notice.message) == ("ops", "email", "escalation")
    assert notice.priority == "high"
    assert notice.quiet_hours is None


def test_a_new_deadline_version_starts_afresh() -> None:
    sent = frozenset({"delivery-late:7:1:0"})
    assert keys(DUE + 2 * H, sent, version=2) == ["delivery-late:7:2:0"]


def test_before_due_counts_from_the_window_start() -> None:
    window = DUE - 3 * H
    assert keys(window - 4 * H, window_start=window) == ["delivery-at-risk:7:1:0"]
    assert keys(window - 5 * H, window_start=window) == []


EVENTS = """
rules:
  - id: on-{event}
    when: {{on: {event}, for: 10m}}
    notify: {{message: m}}
"""


@pytest.mark.parametrize(
    ("event", "status", "version", "fires"),
    [
        ("kept", PromiseStatus.KEPT, 1, True),
        ("kept", PromiseStatus.OPEN, 1, False),
        ("cancelled", PromiseStatus.CANCELLED, 1, True),
        ("broken", PromiseStatus.BROKEN, 1, True),
        ("rescheduled", PromiseStatus.OPEN, 2, True),
        ("rescheduled", PromiseStatus.OPEN, 1, False),
        ("rescheduled", PromiseStatus.KEPT, 2, False),
    ],
)
def test_state_changes_fire_once_after_the_hold(
    event: str, status: PromiseStatus, version: int, fires: bool
) -> None:
    rules = ruleset(EVENTS.format(event=event))
    changed = DUE + 3 * H
    p = promise(status=status, changed_at=changed, version=version)
    assert due_notices(p, customer(), rules, SentLedger(), changed + timedelta(minutes=9)) == []
    found = due_notices(p, customer(), rules, SentLedger(), changed + timedelta(minutes=10))
    assert [n.dedupe_key for n in found] == ([f"on-{event}:7:{version}:0"] if fires else [])
    if fires:
        assert found[0].stage == event
        sent = SentLedger(frozenset({found[0].dedupe_key}))
        assert due_notices(p, customer(), rules, sent, changed + 2 * H) == []


def test_escalation_when_broken_twice() -> None:
    rules = ruleset("""
rules:
  - id: appt
    when: {on: rescheduled}
    notify: {message: m}
    escalate: {broken: 2}
""")
    changed = DUE - 20 * H
    once = promise(changed_at=changed, version=2, times_broken=1)
    twice = promise(changed_at=changed, version=3, times_broken=2)
    assert [n.step for n in due_notices(once, customer(), rules, SentLedger(), changed)] == [0]
    assert [n.step for n in due_notices(twice, customer(), rules, SentLedger(), changed)] == [
        0,
        1000,
    ]


QUIET = RuleDefaults(quiet_hours=QuietHours(time(21), time(8)))
# 23:30 in Buenos Aires (UTC-3) is 02:30 UTC the next day.
NIGHT = datetime(2026, 3, 11, 2, 30, tzinfo=UTC)
MORNING = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "at_night", "next_morning"),
    [
        pytest.param("defer", [], [MORNING], id="defer"),
        pytest.param("drop", [], [], id="drop"),
        pytest.param("send", [NIGHT], [], id="send"),
    ],
)
def test_quiet_hours_in_the_customer_timezone(
    action: str, at_night: list[datetime], next_morning: list[datetime]
) -> None:
    rules = ruleset(
        f"""
rules:
  - id: late
    when: {{overdue: 1h}}
    notify: {{message: m, quiet_hours: {{action: {action}}}}}
""",
        QUIET,
    )
    p = promise(due_at=NIGHT - H)
    night = due_notices(p, customer(), rules, SentLedger(), NIGHT)
    assert [n.not_before for n in night] == at_night
    if not night:
        later = due_notices(p, customer(), rules, SentLedger(), MORNING)
        assert [n.not_before for n in later] == next_morning
        assert next_check_at(p, customer(), rules, SentLedger(), NIGHT) == (
            MORNING if next_morning else None
        )
    if night:
        assert night[0].quiet_hours == QuietHours(time(21), time(8), QuietAction.SEND)


def test_quiet_hours_false_turns_them_off() -> None:
    rules = ruleset(
        "rules: [{id: a, when: {overdue: 1h}, notify: {message: m, quiet_hours: false}}]", QUIET
    )
    p = promise(due_at=NIGHT - H)
    [notice] = due_notices(p, customer(), rules, SentLedger(), NIGHT)
    assert notice.quiet_hours is None


def test_next_check_at_walks_the_stages() -> None:
    rules = ruleset(DELIVERY)
    p = promise()
    assert next_check_at(p, customer(), rules, SentLedger(), DUE - 10 * H) == DUE - 4 * H
    assert next_check_at(p, customer(), rules, SentLedger(), DUE - 4 * H) == DUE - 4 * H
    sent = SentLedger(frozenset({"delivery-at-risk:7:1:0"}))
    # An open promise is also looked at on its deadline, so it can be marked broken.
    assert next_check_at(p, customer(), rules, sent, DUE - 4 * H) == DUE
    assert next_check_at(p, customer(), rules, sent, DUE) == DUE + H
    done = SentLedger(frozenset({*(f"delivery-late:7:1:{s}" for s in (0, 1, 2, 3, 1000))}))
    assert next_check_at(promise(status=PromiseStatus.BROKEN), customer(), rules, done, DUE) is None
    assert (
        next_check_at(promise(status=PromiseStatus.KEPT), customer(), rules, SentLedger(), DUE)
        is None
    )


@pytest.mark.parametrize(
    ("match", "attributes", "cust", "fires"),
    [
        pytest.param("kind: refund", {}, {}, False, id="kind-differs"),
        pytest.param("kind: [refund, delivery]", {}, {}, True, id="kind-list"),
        pytest.param("attributes.carrier: {in: [oca]}", {"carrier": "oca"}, {}, True, id="in"),
        pytest.param("attributes.carrier: {in: [oca]}", {}, {}, False, id="in-missing"),
        pytest.param("attributes.carrier: {not_in: [oca]}", {}, {}, True, id="not-in-missing"),
        pytest.param("attributes.carrier: {exists: false}", {"carrier": None}, {}, True, id="exists-null"),
        pytest.param("attributes.amount: {gte: 100}", {"amount": 100}, {}, True, id="gte"),
        pytest.param("attributes.amount: {gt: 100}", {"amount": 100}, {}, False, id="gt"),
        pytest.param("attributes.amount: {lt: 100}", {"amount": "5"}, {}, False, id="text-is-no-number"),
        pytest.param("attributes.vip: true", {"vip": 1}, {}, False, id="true-is-not-1"),
        pytest.param("attributes.order.region: north", {"order": {"region": "north"}}, {}, True, id="nested"),
        pytest.param("attributes.shipped_at: {lt: '2026-03-01T00:00:00-03:00'}",
                     {"shipped_at": "2026-02-27T10:00:00+00:00"}, {}, True, id="time-lt"),
        pytest.param("attributes.shipped_at: {lt: '2026-03-01T00:00:00-03:00'}",
                     {"shipped_at": "2026-02-27T10:00:00"}, {}, False, id="naive-time-no-match"),
        pytest.param("customer.locale: {regex: '^es'}", {}, {"locale": "es-AR"}, True, id="regex"),
        pytest.param("customer.locale: {regex: '^es'}", {}, {"locale": "pt-BR"}, False, id="regex-no"),
        pytest.param("customer.email: {exists: true}", {}, {"email": "a@b.c"}, True, id="exists"),
        pytest.param("status: [open, broken]", {}, {}, True, id="status"),
        pytest.param("attributes.region: {ne: south, in: [north, south]}", {"region": "north"}, {},
                     True, id="operators-and"),
    ],
)  # fmt: skip
def test_match_conditions(
    match: str, attributes: dict[str, object], cust: dict[str, str], fires: bool
) -> None:
    rules = matching(match)
    c = customer(**cust)
    found = due_notices(promise(attributes=attributes), c, rules, SentLedger(), DUE + H)
    assert bool(found) is fires


def test_business_days_skip_the_weekend_and_holidays() -> None:
    rules = ruleset("""
rules:
  - id: refund-late
    when: {overdue: 1 business_day}
    calendar: {country: AR}
    notify: {message: refund_late}
""")
    # Friday 20 March 2026 17:00 in Buenos Aires; Monday 23 and Tuesday 24 are holidays.
    due = datetime(2026, 3, 20, 20, 0, tzinfo=UTC)
    p = promise(due_at=due)
    expected = datetime(2026, 3, 25, 20, 0, tzinfo=UTC)  # Wednesday 17:00 local
    assert next_check_at(p, customer(), rules, SentLedger(), due + timedelta(minutes=1)) == expected
    assert due_notices(p, customer(), rules, SentLedger(), expected - timedelta(seconds=1)) == []
    assert len(due_notices(p, customer(), rules, SentLedger(), expected)) == 1


STEPS = """
rules:
  - id: delivery-late
    match: {kind: delivery}
    when: {overdue: 1h}
    notify:
      message: [delivery_late, still_late, late_person]
      repeat: {every: 24h, max: 3}
"""


@pytest.mark.parametrize(
    ("hours", "sent", "message"),
    [
        pytest.param(1, 0, "delivery_late", id="first"),
        pytest.param(25, 1, "still_late", id="second"),
        pytest.param(49, 2, "late_person", id="third"),
        pytest.param(73, 3, "late_person", id="the-last-repeats"),
    ],
)
def test_a_message_per_step_the_last_one_repeating(hours: int, sent: int, message: str) -> None:
    ledger = SentLedger(frozenset(f"delivery-late:7:1:{step}" for step in range(sent)))
    [notice] = due_notices(promise(), customer(), ruleset(STEPS), ledger, DUE + hours * H)
    assert (notice.step, notice.message) == (sent, message)
    [rule] = ruleset(STEPS).rules
    assert rule.messages() == ("delivery_late", "still_late", "late_person")

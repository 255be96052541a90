"""The recorder of the scan's planning, on the shipped rules: why each rule spoke or not."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from notifier.domain.models import PromiseStatus
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import DuePromise
from notifier.domain.rules import evaluate as evaluation
from notifier.domain.rules.evaluate import evaluate
from notifier.domain.rules.match import trace_match as real_match
from notifier.domain.rules.model import RuleDefaults, RuleSet
from notifier.domain.rules.stages import timeline as real_timeline
from notifier.domain.rules.trace import RuleTrace
from notifier.domain.scan import plan_promise
from tests.rules_fixtures import DUE, customer, promise, ruleset

H = timedelta(hours=1)
M = timedelta(minutes=1)
RULES_DIR = Path(__file__).parents[2] / "rules"


def _shipped() -> RuleSet:
    """Return every rule of rules/*.yaml, with the shipped defaults (quiet 21:00-08:00)."""
    defaults = RuleDefaults()
    found = [
        r for p in sorted(RULES_DIR.glob("*.yaml")) for r in ruleset(p.read_text(), defaults).rules
    ]
    return RuleSet(tuple(found), defaults)


SHIPPED = _shipped()


def _plan(due: DuePromise, now: datetime) -> dict[str, RuleTrace]:
    """Plan one promise as the scan does; return the trace of each rule, by id."""
    traces: list[RuleTrace] = []
    plan_promise(due, SHIPPED, now, traces.append)
    assert [t.match.rule_id for t in traces] == [r.id for r in SHIPPED.rules]
    for t in traces:
        json.dumps(t.to_json())  # every trace prints as JSON
    return {t.match.rule_id: t for t in traces}


def _due(sent: tuple[str, ...] = (), **kw: object) -> DuePromise:
    return DuePromise(promise(**kw), customer(), SentLedger(frozenset(sent)))  # type: ignore[arg-type]


def test_a_rule_that_does_not_match_names_the_failing_condition_and_the_value() -> None:
    traces = _plan(_due(kind="refund", attributes={"amount": 0}), DUE + 72 * H)
    refund = traces["refund-late"]
    assert refund.verdict == "not_matched" and refund.steps == () and refund.notices == ()
    assert refund.match.failed is not None
    failed = refund.match.failed
    assert (failed.path, failed.op, failed.expected, failed.actual) == (
        "attributes.amount",
        "gt",
        0,
        0,
    )
    assert refund.match.conditions[0].held  # kind: refund held
    kind = traces["delivery-late"].match.failed
    assert kind is not None and (kind.path, kind.op, kind.expected, kind.actual) == (
        "kind", "eq", "delivery", "refund",
    )  # fmt: skip
    listed = traces["appointment-rescheduled"].match.failed
    assert listed is not None and (listed.op, listed.expected) == ("in", ["appointment", "repair"])
    # promise-kept matches a refund (notify_kept missing is not false), but it was not kept.
    kept = traces["promise-kept"]
    assert kept.match.matched and kept.match.conditions[1].missing
    assert kept.verdict == "other_status" and {s.why for s in kept.skipped} == {"other_status"}


def test_a_notice_already_sent_says_so_with_its_key() -> None:
    # The shipped warning needs a risk signal: the carrier reports a delay.
    delayed = {"carrier_status": "delayed"}
    traces = _plan(_due(("delivery-at-risk:7:1:0",), attributes=delayed), DUE - 3 * H)
    at_risk = traces["delivery-at-risk"]
    assert at_risk.verdict == "already_sent" and at_risk.notices == ()
    [step] = at_risk.steps
    assert (step.stage, step.step, step.dedupe_key, step.status) == (
        "at_risk", 0, "delivery-at-risk:7:1:0", "already_sent",
    )  # fmt: skip
    assert step.at == DUE - 4 * H


def test_a_late_notice_already_sent_and_its_repeat_not_yet_due() -> None:
    # Planning breaks the promise first: the at-risk rule's status: open no longer holds.
    traces = _plan(_due(("delivery-late:7:1:0",)), DUE + 2 * H)
    at_risk = traces["delivery-at-risk"].match.failed
    assert at_risk is not None and (at_risk.path, at_risk.actual) == ("status", "broken")
    late = traces["delivery-late"]
    assert late.verdict == "already_sent"
    assert [(s.step, s.status) for s in late.steps] == [(0, "already_sent"), (1, "not_yet_due")]
    assert late.steps[1].at == DUE + 25 * H + 15 * M
    assert late.escalation == "not_reached" and late.notices_counted == 1


def test_every_repeat_sent_is_max_repeats_reached() -> None:
    sent = tuple(f"delivery-late:7:1:{s}" for s in (0, 1, 2, 3, 1000))
    traces = _plan(_due(sent), DUE + 80 * H)
    late = traces["delivery-late"]
    assert late.verdict == "max_repeats_reached" and late.repeats == 3
    assert [(s.stage, s.status) for s in late.steps] == [
        ("late", "already_sent"), ("repeat", "already_sent"), ("repeat", "already_sent"),
        ("repeat", "already_sent"), ("escalated", "already_sent"),
    ]  # fmt: skip
    assert late.escalation is None and late.notices_counted == 4


def test_a_notice_due_is_recorded_with_the_notice_and_its_escalation() -> None:
    traces = _plan(_due(kind="callback"), DUE + 20 * M)
    callback = traces["callback-missed"]
    assert callback.verdict == "notified"
    assert [(s.stage, s.status) for s in callback.steps] == [("late", "due"), ("escalated", "due")]
    assert [n.dedupe_key for n in callback.notices] == [
        "callback-missed:7:1:0",
        "callback-missed:7:1:1000",
    ]
    data = json.loads(json.dumps(callback.to_json()))
    assert data["verdict"] == "notified"
    assert [(n["dedupe_key"], n["audience"]) for n in data["notices"]] == [
        ("callback-missed:7:1:0", "customer"), ("callback-missed:7:1:1000", "ops"),
    ]  # fmt: skip


def test_a_late_stage_supersedes_the_at_risk_one_and_says_which() -> None:
    # evaluate on an open promise (the scan would have broken it): both rules match.
    traces: list[RuleTrace] = []
    delayed = promise(attributes={"carrier_status": "delayed"})  # the warning's risk signal
    evaluate(delayed, customer(), SHIPPED, SentLedger(), DUE + 2 * H, traces.append)
    at_risk = next(t for t in traces if t.match.rule_id == "delivery-at-risk")
    assert at_risk.verdict == "superseded"
    assert at_risk.steps[0].superseded_by == "delivery-late:7:1:0"


def test_a_step_older_than_the_backfill_is_past_it() -> None:
    # A window that opened 30 h before the deadline: its at-risk moment (4 h before the
    # window) is 33 h old an hour before the deadline, past the 24 h backfill.
    delayed = {"carrier_status": "delayed"}  # the shipped warning's risk signal
    traces = _plan(_due(window_start=DUE - 30 * H, attributes=delayed), DUE - H)
    assert traces["delivery-at-risk"].verdict == "past_backfill"


def test_nothing_yet_due_says_when() -> None:
    traces = _plan(_due(attributes={"carrier_status": "delayed"}), DUE - 6 * H)
    at_risk, late = traces["delivery-at-risk"], traces["delivery-late"]
    assert at_risk.verdict == late.verdict == "not_yet_due"
    assert [(s.status, s.at) for s in at_risk.steps] == [("not_yet_due", DUE - 4 * H)]
    assert [(s.status, s.at) for s in late.steps] == [("not_yet_due", DUE + H + 15 * M)]


@pytest.mark.parametrize(
    ("kept_at", "verdict"),
    [
        pytest.param(DUE, "notified", id="kept-at-noon"),
        # The thanks waits for the morning (quiet hours defer it), never dropped.
        pytest.param(DUE + 11 * H, "not_yet_due", id="kept-at-23h"),
    ],
)
def test_a_kept_promise_is_settled_for_the_late_rule(kept_at: datetime, verdict: str) -> None:
    # Kept after its late apology went out: the thanks is due (``told: [late, at_risk]``).
    apologised = ("delivery-late:7:1:0",)
    traces = _plan(_due(apologised, status=PromiseStatus.KEPT, changed_at=kept_at),
                   kept_at + 10 * M)  # fmt: skip
    late = traces["delivery-late"]
    assert late.verdict == "settled" and late.steps == () and late.escalation == "settled"
    assert {s.why for s in late.skipped} == {"settled"} and len(late.skipped) == 4
    assert traces["promise-kept"].verdict == verdict
    status = traces["delivery-at-risk"].match.failed
    assert status is not None and status.actual == "kept"


def test_a_first_deadline_is_never_rescheduled() -> None:
    traces = _plan(_due(kind="appointment"), DUE - 6 * H)
    assert traces["appointment-rescheduled"].verdict == "never_rescheduled"


def test_a_forgotten_customer_is_not_evaluated_so_nothing_is_recorded() -> None:
    traces: list[RuleTrace] = []
    due = DuePromise(promise(), customer(forgotten=True), SentLedger())
    plan_promise(due, SHIPPED, DUE + 2 * H, traces.append)
    assert traces == []


def test_recording_changes_no_decision() -> None:
    for due, now in ((_due(), DUE + 2 * H), (_due(kind="callback"), DUE + 20 * M),
                     (_due(("delivery-late:7:1:0",)), DUE + 26 * H)):  # fmt: skip
        assert plan_promise(due, SHIPPED, now, lambda _: None) == plan_promise(due, SHIPPED, now)


def test_without_a_recorder_no_trace_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # A cost check, not behaviour: the scan's path must never reach the trace builders.
    built: list[str] = []
    skipped: list[object] = []
    real_rule = evaluation.rule_trace

    def trace_match(*args: object) -> object:
        built.append("match")
        return real_match(*args)  # type: ignore[arg-type]

    def rule_trace(*args: object) -> object:
        built.append("rule")
        return real_rule(*args)  # type: ignore[arg-type]

    def timeline(*args: object) -> object:
        skipped.append(args[5])
        return real_timeline(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "trace_match", trace_match)
    monkeypatch.setattr(evaluation, "rule_trace", rule_trace)
    monkeypatch.setattr(evaluation, "timeline", timeline)
    cases = [(_due(), DUE + 2 * H), (_due(status=PromiseStatus.KEPT), DUE + H),
             (_due(kind="refund", attributes={"amount": 0}), DUE + 72 * H)]  # fmt: skip
    for due, now in cases:
        plan_promise(due, SHIPPED, now)
    assert built == [] and skipped and all(s is None for s in skipped)
    # The spies do sit on the recording path.
    plan_promise(cases[0][0], SHIPPED, cases[0][1], lambda _: None)
    assert "match" in built and "rule" in built and any(s is not None for s in skipped)


def test_a_kept_promise_nobody_apologised_for_is_not_told() -> None:
    traces = _plan(_due(status=PromiseStatus.KEPT, changed_at=DUE), DUE + 10 * M)
    kept = traces["promise-kept"]
    assert kept.match.matched and kept.notices == ()
    assert kept.verdict == "not_told" and kept.to_json()["verdict"] == "not_told"

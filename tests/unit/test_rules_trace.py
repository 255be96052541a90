"""The trace of a rule's match: per condition the path, operator, both values and verdict."""
# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.models import JSONValue, PromiseStatus
from notifier.domain.rules.match import (
    MISSING,
    Seen,
    holds,
    matches,
    trace_condition,
    trace_match,
)
from notifier.domain.rules.model import Condition
from tests.rules_fixtures import customer, matching, promise, ruleset


def _condition(match: str) -> Condition:
    rules = matching(match)
    [condition] = rules.rules[0].match
    return condition


@pytest.mark.parametrize(
    ("match", "attributes", "cust", "path", "op", "expected", "actual", "held"),
    [
        pytest.param("customer.email: {exists: true}", {}, {"email": "a@b.c"}, "customer.email", "exists", True, "a@b.c", True, id="exists"),
        pytest.param("customer.email: {exists: true}", {}, {}, "customer.email", "exists", True, None, False, id="exists-null-field"),
        pytest.param("attributes.carrier: {exists: true}", {}, {}, "attributes.carrier", "exists", True, MISSING, False, id="exists-missing"),
        pytest.param("attributes.carrier: {exists: false}", {"carrier": None}, {}, "attributes.carrier", "exists", False, None, True, id="exists-false-null"),
        pytest.param("kind: delivery", {}, {}, "kind", "eq", "delivery", "delivery", True, id="eq"),
        pytest.param("kind: refund", {}, {}, "kind", "eq", "refund", "delivery", False, id="eq-differs"),
        pytest.param("attributes.vip: true", {"vip": 1}, {}, "attributes.vip", "eq", True, 1, False, id="eq-true-is-not-1"),
        pytest.param("attributes.carrier: oca", {}, {}, "attributes.carrier", "eq", "oca", MISSING, False, id="eq-missing"),
        pytest.param("attributes.region: {ne: south}", {"region": "south"}, {}, "attributes.region", "ne", "south", "south", False, id="ne"),
        pytest.param("attributes.region: {ne: south}", {}, {}, "attributes.region", "ne", "south", MISSING, True, id="ne-missing-holds"),
        pytest.param("status: [open, broken]", {}, {}, "status", "in", ["open", "broken"], "open", True, id="in"),
        pytest.param("attributes.carrier: {in: [oca, dhl]}", {}, {}, "attributes.carrier", "in", ["oca", "dhl"], MISSING, False, id="in-missing"),
        pytest.param("attributes.carrier: {not_in: [oca]}", {"carrier": "dhl"}, {}, "attributes.carrier", "not_in", ["oca"], "dhl", True, id="not-in"),
        pytest.param("attributes.carrier: {not_in: [oca]}", {"carrier": "oca"}, {}, "attributes.carrier", "not_in", ["oca"], "oca", False, id="not-in-listed"),
        pytest.param("attributes.carrier: {not_in: [oca]}", {}, {}, "attributes.carrier", "not_in", ["oca"], MISSING, True, id="not-in-missing-holds"),
        pytest.param("customer.locale: {regex: '^es'}", {}, {"locale": "es-AR"}, "customer.locale", "regex", "^es", "es-AR", True, id="regex"),
        pytest.param("customer.locale: {regex: '^es'}", {}, {"locale": "pt-BR"}, "customer.locale", "regex", "^es", "pt-BR", False, id="regex-no"),
        pytest.param("attributes.code: {regex: '^5'}", {"code": 5}, {}, "attributes.code", "regex", "^5", 5, False, id="regex-on-a-number"),
        pytest.param("attributes.amount: {gt: 0}", {"amount": 0}, {}, "attributes.amount", "gt", 0, 0, False, id="gt"),
        pytest.param("attributes.amount: {gte: 100}", {"amount": 100}, {}, "attributes.amount", "gte", 100, 100, True, id="gte"),
        pytest.param("attributes.amount: {lt: 100}", {"amount": "5"}, {}, "attributes.amount", "lt", 100, "5", False, id="lt-text-is-no-number"),
        pytest.param("attributes.amount: {lte: 2.5}", {"amount": 2.5}, {}, "attributes.amount", "lte", 2.5, 2.5, True, id="lte"),
        pytest.param("attributes.amount: {gt: 0}", {}, {}, "attributes.amount", "gt", 0, MISSING, False, id="order-missing"),
        pytest.param("attributes.shipped_at: {lt: '2026-03-01T00:00:00-03:00'}", {"shipped_at": "2026-02-27T10:00:00+00:00"}, {}, "attributes.shipped_at", "lt", "2026-03-01T00:00:00-03:00", "2026-02-27T10:00:00+00:00", True, id="time-lt"),
        pytest.param("attributes.shipped_at: {lte: '2026-03-01T00:00:00-03:00'}", {"shipped_at": "2026-02-27T10:00:00"}, {}, "attributes.shipped_at", "lte", "2026-03-01T00:00:00-03:00", "2026-02-27T10:00:00", False, id="naive-time"),
        pytest.param("attributes.order.region: north", {"order": {"region": "north"}}, {}, "attributes.order.region", "eq", "north", "north", True, id="nested"),
        pytest.param("attributes.order.region: north", {"order": "north"}, {}, "attributes.order.region", "eq", "north", MISSING, False, id="nested-under-a-text"),
        pytest.param("attributes.order: {exists: true}", {"order": {"region": "north"}}, {}, "attributes.order", "exists", True, {"region": "north"}, True, id="a-mapping-seen-whole"),
    ],
)  # fmt: skip
def test_each_operator_traces_the_value_it_saw(
    match: str,
    attributes: dict[str, object],
    cust: dict[str, str],
    path: str,
    op: str,
    expected: JSONValue,
    actual: Seen,
    held: bool,
) -> None:
    condition = _condition(match)
    p, c = promise(attributes=attributes), customer(**cust)
    trace = trace_condition(condition, p, c)
    assert (trace.path, trace.op, trace.expected, trace.held) == (path, op, expected, held)
    assert trace.actual == actual and (trace.actual is MISSING) is (actual is MISSING)
    assert trace.missing is (actual is MISSING)
    assert trace.held is holds(condition, p, c)  # one verdict, whichever way it is asked


def test_an_unknown_customer_field_is_missing_not_null() -> None:
    trace = trace_condition(
        Condition(("customer", "password"), "exists", False), promise(), customer()
    )
    assert trace.actual is MISSING and trace.held


def test_the_status_is_seen_as_its_name() -> None:
    trace = trace_condition(
        _condition("status: open"), promise(status=PromiseStatus.BROKEN), customer()
    )
    assert (trace.actual, trace.held) == ("broken", False)


RULE = """
rules:
  - id: r
    match:
      kind: delivery
      attributes.carrier: {in: [oca, dhl]}
      attributes.amount: {gt: 0}
      customer.locale: {regex: '^es'}
    when: {overdue: 1h}
    notify: {message: m}
"""


@pytest.mark.parametrize(
    ("attributes", "first_failed"),
    [
        pytest.param({"carrier": "oca", "amount": 3}, None, id="all-held"),
        pytest.param({"amount": 3}, 1, id="carrier-missing"),
        pytest.param({"carrier": "fedex", "amount": 0}, 1, id="first-of-two-failing"),
        pytest.param({"carrier": "dhl", "amount": -1}, 2, id="amount"),
    ],
)
def test_the_rule_verdict_names_the_first_failing_condition(
    attributes: dict[str, object], first_failed: int | None
) -> None:
    [rule] = ruleset(RULE).rules
    p, c = promise(attributes=attributes), customer()
    trace = trace_match(rule, p, c)
    assert trace.rule_id == "r" and trace.first_failed == first_failed
    assert trace.matched is matches(rule, p, c) is (first_failed is None)
    assert [t.path for t in trace.conditions] == [
        "kind", "attributes.carrier", "attributes.amount", "customer.locale",
    ]  # fmt: skip
    # Every condition is tested, also after the first one fails.
    assert [t.held for t in trace.conditions] == [holds(x, p, c) for x in rule.match]
    if first_failed is not None:
        assert trace.failed is trace.conditions[first_failed]
    else:
        assert trace.failed is None


def test_the_trace_is_json_and_a_missing_value_has_no_actual() -> None:
    [rule] = ruleset(RULE).rules
    trace = trace_match(rule, promise(attributes={"amount": 0}), customer())
    data = json.loads(json.dumps(trace.to_json()))
    assert data["rule"] == "r" and data["matched"] is False and data["first_failed"] == 1
    carrier, amount = data["conditions"][1], data["conditions"][2]
    assert carrier == {"path": "attributes.carrier", "op": "in", "expected": ["oca", "dhl"],
                       "missing": True, "held": False}  # fmt: skip
    assert amount == {"path": "attributes.amount", "op": "gt", "expected": 0, "actual": 0,
                      "missing": False, "held": False}  # fmt: skip


def test_a_rule_without_conditions_matches_with_an_empty_trace() -> None:
    rules = ruleset("rules: [{id: all, when: {overdue: 1h}, notify: {message: m}}]")
    trace = trace_match(rules.rules[0], promise(), customer())
    assert trace.matched and trace.conditions == ()


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3), st.sampled_from(["oca", "dhl", "es", "5", ""]),
    st.dictionaries(st.sampled_from(["region"]), st.sampled_from(["north", "south"]), max_size=1),
)  # fmt: skip
ANY_RULES = ruleset("""
rules:
  - {id: a, match: {attributes.x: {exists: true}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: b, match: {attributes.x: oca}, when: {overdue: 1h}, notify: {message: m}}
  - {id: c, match: {attributes.x: {ne: 1}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: d, match: {attributes.x: {in: [oca, 1, true]}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: e, match: {attributes.x: {not_in: [dhl, 0]}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: f, match: {attributes.x: {regex: '^(es|5)$'}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: g, match: {attributes.x: {gt: 0}, attributes.y: {lte: 1}}, when: {overdue: 1h}, notify: {message: m}}
  - {id: h, match: {attributes.x.region: {gte: 1}}, when: {overdue: 1h}, notify: {message: m}}
""")


@given(st.dictionaries(st.sampled_from(["x", "y"]), VALUES, max_size=2))
def test_the_trace_agrees_with_matches(attributes: dict[str, object]) -> None:
    p, c = promise(attributes=attributes), customer()
    for rule in ANY_RULES.rules:
        trace = trace_match(rule, p, c)
        assert trace.matched is matches(rule, p, c)
        assert [t.held for t in trace.conditions] == [holds(x, p, c) for x in rule.match]
        json.dumps(trace.to_json())

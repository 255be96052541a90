"""At risk only on a risk signal: ``any:`` in a match, and a promise's times compared."""
# ruff: noqa: E501  (case tables read best one case per line)

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from notifier.domain.models import Customer, CustomerId, Promise
from notifier.domain.notices import SentLedger
from notifier.domain.rules import due_notices
from tests.rules_fixtures import DUE, customer, matching, promise, shipped_rules

H = timedelta(hours=1)


def delivery(estimate: datetime | None = None, **attributes: object) -> Promise:
    return dataclasses.replace(promise(attributes=attributes), estimate_at=estimate)


def at_risk_keys(p: Promise, now: datetime, c: Customer | None = None) -> list[str]:
    found = due_notices(p, c or customer(), shipped_rules(), SentLedger(), now)
    return [n.dedupe_key for n in found if n.rule_id == "delivery-at-risk"]


# DUE is Tuesday 12:00 in Buenos Aires: four hours before it is 08:00, after quiet hours.
@pytest.mark.parametrize(
    ("p", "fires"),
    [
        pytest.param(delivery(), False, id="on-track-no-estimate"),
        pytest.param(delivery(DUE - H), False, id="estimate-before-the-promise"),
        pytest.param(delivery(DUE), False, id="estimate-at-the-promise"),
        pytest.param(delivery(DUE + 2 * H), True, id="later-estimate"),
        pytest.param(delivery(carrier_status="exception"), True, id="carrier-exception"),
        pytest.param(delivery(carrier_status="failed_attempt"), True, id="failed-attempt"),
        pytest.param(delivery(carrier_status="in_transit"), False, id="in-transit"),
        pytest.param(delivery(DUE - H, carrier_status="delayed"), True, id="either-signal"),
    ],
)
def test_delivery_at_risk_only_on_a_risk_signal(p: Promise, fires: bool) -> None:
    assert at_risk_keys(p, DUE - 4 * H) == (["delivery-at-risk:7:1:0"] if fires else [])


def test_a_signal_that_arrives_late_still_warns_before_the_deadline() -> None:
    assert at_risk_keys(delivery(), DUE - 2 * H) == []
    assert at_risk_keys(delivery(DUE + 3 * H), DUE - 2 * H) == ["delivery-at-risk:7:1:0"]


@pytest.mark.parametrize(
    ("match", "p", "fires"),
    [
        pytest.param("estimate_at: {gt: due_at}", delivery(DUE + H), True, id="field-gt-field"),
        pytest.param("estimate_at: {gt: due_at}", delivery(), False, id="missing-field"),
        pytest.param("estimate_at: {lte: due_at}", delivery(DUE), True, id="field-lte-field"),
        pytest.param("due_at: {lt: '2026-03-11T00:00:00-03:00'}", delivery(), True, id="field-lt-time"),
        pytest.param("attributes.eta: {gt: due_at}", delivery(eta="2026-03-10T18:00:00+00:00"), True,
                     id="attribute-time-gt-field"),
        pytest.param("any: [{attributes.a: 1}, {attributes.b: 2}]", delivery(b=2), True, id="any-second"),
        pytest.param("any: [{attributes.a: 1}, {attributes.b: 2}]", delivery(c=3), False, id="any-none"),
        pytest.param("any: [{attributes.a: 1, attributes.b: 2}]", delivery(a=1), False, id="any-group-is-all"),
        pytest.param("any: [{any: [{attributes.a: 1}]}]", delivery(a=1), True, id="nested-any"),
    ],
)  # fmt: skip
def test_any_and_time_fields(match: str, p: Promise, fires: bool) -> None:
    rules = matching(match)
    c = Customer(CustomerId("c-1"), "es-AR", "America/Argentina/Buenos_Aires")
    assert bool(due_notices(p, c, rules, SentLedger(), DUE + H)) is fires

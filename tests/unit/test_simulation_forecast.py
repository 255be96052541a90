"""The dry run's stepping, without a store: repeats, pauses, routing, the cap, moot notices."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.domain.forecast import Conditions, Forecast, Pending, World
from notifier.domain.models import (
    ChannelName,
    CustomerId,
    NotificationId,
    NotificationStatus,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.notices import SentLedger
from notifier.domain.outbox import DuePromise, Notification
from notifier.domain.simulation import simulate
from tests.rules_fixtures import DUE, customer, promise, ruleset

RULES = ruleset("""
rules:
  - id: late
    match: {kind: delivery}
    when: {overdue: 1h}
    notify:
      message: delivery_late
      fallback: [sms, email]
      repeat: {every: 24h, max: 2}
    escalate: {after: 3, to: ops}
""")
START = DUE + timedelta(minutes=30)
ALL: frozenset[ChannelName] = frozenset({"sms", "email"})
ANA = customer(phone="+5491155550101", email="ana@example.com", last_used_channel="sms")


def _world(*due_in: timedelta, **extra: object) -> World:
    """Promises of Ana's due at START + each delta, every one checked at START."""
    found = [
        DuePromise(replace(promise(id=i, due_at=START + d), next_check_at=START), ANA, SentLedger())
        for i, d in enumerate(due_in, start=1)
    ]
    return World(promises=found, **extra)  # type: ignore[arg-type]  # test keywords


def _run(world: World, days: int = 3, **conditions: object) -> Forecast:
    options: dict[str, object] = {"available": ALL, "ops_address": "ops@acme.example",
                                  "step": timedelta(minutes=1)}  # fmt: skip
    options.update(conditions)
    return simulate(world, RULES, Conditions(**options), START, START + timedelta(days=days))  # type: ignore[arg-type]


def test_a_late_promise_is_told_then_repeated_then_escalated_to_ops() -> None:
    found = _run(_world(timedelta(hours=-2)))
    assert [(s.at - START, s.message, s.audience, s.channel) for s in found.sends] == [
        (timedelta(0), "delivery_late", "customer", "sms"),
        (timedelta(hours=23), "delivery_late", "customer", "sms"),  # a day after it was late
        (timedelta(hours=47), "delivery_late", "customer", "sms"),
        (timedelta(hours=47), "escalation", "ops", "email"),
    ]
    first = found.sends[0]
    assert first.notification_id is None and first.dedupe_key == "late:1:1:0"
    assert "rule late" in first.reasons[0] and first.reasons[-1] == "sms: last used channel"
    assert found.withheld == ()


@pytest.mark.parametrize(
    ("conditions", "outcome", "reason"),
    [
        pytest.param({"paused_channels": frozenset({"sms"})}, "held",
                     "channel sms paused by ops", id="channel-paused"),
        pytest.param({"paused_rules": frozenset({"late"})}, "held", "rule late paused by ops",
                     id="rule-paused"),
        pytest.param({"available": frozenset()}, "suppressed",
                     "no channel left: sms channel unavailable; email channel unavailable",
                     id="nothing-configured"),
    ],
)  # fmt: skip
def test_what_cannot_go_is_withheld_with_the_reason(
    conditions: dict[str, object], outcome: str, reason: str
) -> None:
    found = _run(_world(timedelta(hours=-2)), days=1, **conditions)
    customer_sends = [s for s in found.sends if s.audience == "customer"]
    assert customer_sends == []
    assert (found.withheld[0].outcome, found.withheld[0].reason) == (outcome, reason)


def test_an_unavailable_channel_falls_back_and_says_so() -> None:
    found = _run(_world(timedelta(hours=-2)), days=0, available=frozenset({"email"}))
    (send,) = found.sends
    assert (send.channel, send.address) == ("email", "ana@example.com")
    assert "sms skipped: channel unavailable" in send.reasons


def test_ops_without_an_address_get_nothing_and_it_says_why() -> None:
    found = _run(_world(timedelta(hours=-2)), ops_address=None)
    assert all(s.audience == "customer" for s in found.sends)
    (withheld,) = found.withheld
    assert withheld.outcome == "suppressed" and "NOTIFIER_OPS_EMAIL" in withheld.reason


def test_the_cap_holds_a_notice_until_the_oldest_recent_message_is_a_day_old() -> None:
    recent = [START - timedelta(hours=h) for h in (20, 10, 5)]
    found = _run(_world(timedelta(hours=-2), sent={CustomerId("c-1"): recent}), days=1)
    first = found.sends[0]
    assert first.at == recent[0] + timedelta(days=1)
    assert any(r.startswith("frequency cap: 3 messages in 24 h") for r in first.reasons)


def test_a_pending_row_for_a_kept_promise_is_cancelled() -> None:
    kept = replace(promise(id=1), status=PromiseStatus.KEPT)
    row = Notification(
        id=NotificationId(41), dedupe_key="late:1:1:0", customer_id=CustomerId("c-1"),
        promise_id=PromiseId(1), rule_id="late", message="delivery_late", stage="late", step=0,
        priority="normal", audience="customer", channel_choice="last_used",
        fallback=("sms", "email"), failed_channels=frozenset(),
        status=NotificationStatus.PENDING, not_before=START, attempts=0, deadline_version=1,
        quiet_hours=None, created_at=START,
    )  # fmt: skip
    world = World(promises=[], pending=[Pending(row, "late by 1h")], settled={kept.id: kept},
                  customers={ANA.id: ANA})  # fmt: skip
    found = _run(world, days=1)
    assert found.sends == ()
    (w,) = found.withheld
    assert (w.notification_id, w.outcome) == (41, "cancelled")
    assert w.reason == "the promise was kept after this was scheduled"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=-180, max_value=3 * 24 * 60), min_size=1, max_size=6))
def test_sends_are_in_order_once_each_and_within_the_cap(minutes: list[int]) -> None:
    found = _run(_world(*(timedelta(minutes=m) for m in minutes)), step=timedelta(minutes=5))
    times = [s.at for s in found.sends]
    assert times == sorted(times) and all(START <= t <= START + timedelta(days=3) for t in times)
    keys = [k for s in found.sends for k in (s.dedupe_key, *s.members)]
    assert len(keys) == len(set(keys))
    to_customer = [s.at for s in found.sends if s.audience == "customer"]
    for at in to_customer:
        assert sum(at - timedelta(days=1) < t <= at for t in to_customer) <= 3

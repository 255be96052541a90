"""The decide step, table-tested: one claimed batch in, changes and messages out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from notifier.domain.decide import (
    CONSOLIDATED,
    CUSTOMER_GONE,
    OPS_UNREACHABLE,
    SETTLE,
    Claim,
    Decision,
    Muted,
    Situation,
    decide,
)
from notifier.domain.dispatch import DAY
from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    NotificationId,
    NotificationStatus,
    Promise,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.notices import Audience, Priority
from notifier.domain.outbox import Notification
from notifier.domain.quiet_hours import QuietAction, QuietHours
from tests.rules_fixtures import customer, promise

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in Buenos Aires
NIGHT = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 23:00 in Buenos Aires
QUIET = QuietHours(time(21, 0), time(8, 0), QuietAction.DEFER)
ANA = customer(phone="+5491155550101", email="ana@example.com", last_used_channel="sms")
BOTH: frozenset[ChannelName] = frozenset({"sms", "email"})


def _n(
    nid: int = 1,
    *,
    pid: int | None = 7,
    audience: Audience = "customer",
    priority: Priority = "normal",
    failed: frozenset[ChannelName] = frozenset(),
    quiet: QuietHours | None = None,
    customer_id: str = "c-1",
    stage: str = "late",
) -> Notification:
    return Notification(
        id=NotificationId(nid), dedupe_key=f"late:{pid}:1:{nid}",
        customer_id=CustomerId(customer_id), promise_id=PromiseId(pid) if pid else None,
        rule_id="late", message="delivery_late", stage=stage, step=0, priority=priority,
        audience=audience, channel_choice="last_used", fallback=("sms", "email"),
        failed_channels=failed, status=NotificationStatus.SENDING, not_before=NOW, attempts=0,
        deadline_version=1, quiet_hours=quiet, created_at=NOW,
    )  # fmt: skip


def _broken(pid: int = 7) -> Promise:
    return replace(promise(id=pid, due_at=NOW - timedelta(hours=2)), status=PromiseStatus.BROKEN)


@dataclass
class Case:
    rows: list[Notification]
    customers: dict[str, Customer] = field(default_factory=lambda: {"c-1": ANA})
    promises: dict[int, Promise] = field(default_factory=lambda: {7: _broken(), 8: _broken(8)})
    sent: dict[str, list[datetime]] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    situation: Situation = field(default_factory=lambda: Situation(BOTH, ops_address="o@x"))
    at: datetime = NOW

    def run(self) -> Decision:
        claim = Claim(self.rows, self.customers, self.promises, self.sent, self.in_flight)
        return decide(claim, self.situation, self.at)


def _summary(d: Decision) -> list[tuple[int, str, str | None, object]]:
    """Each row's fate: (id, event or 'go', status or channel, reason or members)."""
    out: list[tuple[int, str, str | None, object]] = []
    for g in d.goes:
        out.append((int(g.notification.id), "go", g.send.channel, [int(m.id) for m in g.members]))
    for c in d.changes:
        assert c.event is not None
        status = c.status.value if c.status else None
        out.append((int(c.id), c.event.type, status, c.event.reason))
    return sorted(out, key=lambda r: (r[0], r[1]))


def _gone() -> dict[str, Customer]:
    return {}


def _kept() -> dict[int, Promise]:
    return {7: replace(_broken(), status=PromiseStatus.KEPT)}


def _mute(until: datetime | None) -> Situation:
    def crisis(
        n: Notification, c: Customer | None, p: Promise | None, now: datetime
    ) -> Muted | None:
        return Muted("incident 3 tells them", until) if n.audience == "customer" else None

    return Situation(BOTH, ops_address="ops@acme.example", mutes=(crisis,))


CASES = {
    "goes-on-last-used": (Case([_n()]), [(1, "go", "sms", [])]),
    "kept-is-moot": (
        Case([_n()], promises=_kept()),
        [(1, "cancelled", "cancelled", "the promise was kept after this was scheduled")],
    ),
    "customer-gone": (
        Case([_n()], customers=_gone()),
        [(1, "cancelled", "cancelled", CUSTOMER_GONE)],
    ),
    "opted-out-falls-back": (
        Case([_n()], customers={"c-1": replace(ANA, opted_out=frozenset({"sms"}))}),
        [(1, "go", "email", [])],
    ),
    "no-channel-suppressed": (
        Case([_n()], customers={"c-1": replace(ANA, opted_out=frozenset({"sms", "email"}))}),
        [(1, "suppressed", "suppressed", "no channel left: sms opted out; email opted out")],
    ),
    "tried-every-way-failed": (
        Case([_n(failed=frozenset({"sms", "email"}))]),
        [
            (
                1,
                "failed",
                "failed",
                # Not "permanently" (issue 16): a channel may have run out of attempts.
                "no channel left: sms failed for this notification; "
                "email failed for this notification",
            )
        ],
    ),
    "fallback-after-permanent-error": (
        Case([_n(failed=frozenset({"sms"}))]),
        [(1, "go", "email", [])],
    ),
    "quiet-hours-defer": (
        Case([_n(quiet=QUIET)], at=NIGHT),
        [(1, "deferred", "pending", "quiet hours")],
    ),
    "paused-channel-held": (
        Case([_n()], situation=Situation(BOTH, frozenset({"sms"}))),
        [(1, "held", "pending", "channel sms paused by ops")],
    ),
    "down-channel-falls-back": (
        Case([_n()], situation=Situation(frozenset({"email"}))),
        [(1, "go", "email", [])],
    ),
    "two-promises-one-message": (
        Case([_n(1), _n(2, pid=8)]),
        [(1, "go", "sms", [2]), (2, "folded", None, "goes with notification 1 as one message")],
    ),
    "a-warning-goes-apart-from-late-notices": (
        Case([_n(1), _n(2, pid=8, stage="at_risk"), _n(3, pid=8, stage="repeat")]),
        [
            (1, "go", "sms", [3]),
            (2, "go", "sms", []),
            (3, "folded", None, "goes with notification 1 as one message"),
        ],
    ),
    "apart-they-each-count-for-the-cap": (
        Case(
            [_n(1), _n(2, pid=8, stage="kept")],
            sent={"c-1": [NOW - timedelta(hours=1)] * 2},
            promises={7: _broken(), 8: replace(_broken(8), status=PromiseStatus.KEPT)},
        ),
        [(1, "go", "sms", []), (2, "deferred", "pending", "frequency cap: 3 messages in 24 h")],
    ),
    "at-the-cap-deferred": (
        Case([_n(1), _n(2, pid=8)], sent={"c-1": [NOW - timedelta(hours=h) for h in (1, 2, 3)]}),
        [
            (1, "deferred", "pending", "frequency cap: 3 messages in 24 h"),
            (2, "deferred", "pending", "frequency cap: 3 messages in 24 h"),
        ],
    ),
    "critical-ignores-the-cap": (
        Case([_n(priority="critical")], sent={"c-1": [NOW - timedelta(hours=1)] * 3}),
        [(1, "go", "sms", [])],
    ),
    "in-flight-waits-to-settle": (
        Case([_n()], sent={"c-1": [NOW - timedelta(hours=1)] * 2}, in_flight={"c-1": 1}),
        [
            (
                1,
                "deferred",
                "pending",
                "frequency cap: 3 messages in 24 h; a message to them is in flight",
            )
        ],
    ),
    "in-flight-under-the-cap-goes": (
        Case([_n()], sent={"c-1": [NOW - timedelta(hours=1)]}, in_flight={"c-1": 1}),
        [(1, "go", "sms", [])],
    ),
    "ops-by-email": (Case([_n(audience="ops")]), [(1, "go", "email", [])]),
    "ops-unreachable": (
        Case([_n(audience="ops")], situation=Situation(frozenset({"sms"}), ops_address="o@x")),
        [(1, "suppressed", "suppressed", OPS_UNREACHABLE)],
    ),
    "ops-never-folded-nor-capped": (
        Case(
            [_n(1, audience="ops"), _n(2, audience="ops", pid=8)],
            sent={"c-1": [NOW - timedelta(hours=1)] * 3},
        ),
        [(1, "go", "email", []), (2, "go", "email", [])],
    ),
    "muted-until-later": (
        Case([_n()], situation=_mute(NOW + timedelta(hours=2))),
        [(1, "muted", "pending", "incident 3 tells them")],
    ),
    "muted-for-good": (
        Case([_n()], situation=_mute(None)),
        [(1, "muted", "suppressed", "incident 3 tells them")],
    ),
    "mute-spares-ops": (
        Case([_n(audience="ops")], situation=_mute(None)),
        [(1, "go", "email", [])],
    ),
    "moot-before-mute": (
        Case([_n()], promises=_kept(), situation=_mute(None)),
        [(1, "cancelled", "cancelled", "the promise was kept after this was scheduled")],
    ),
}


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
def test_decide(case: Case, expected: list[tuple[int, str, str | None, object]]) -> None:
    decision = case.run()
    assert _summary(decision) == sorted(expected, key=lambda r: (r[0], r[1]))
    assert decision.faults == []


def test_a_consolidated_message_is_several_late_and_counts_once_for_the_cap() -> None:
    sent = {"c-1": [NOW - timedelta(hours=1), NOW - timedelta(hours=2)]}
    decision = Case([_n(1), _n(2, pid=8)], sent=sent).run()
    (go,) = decision.goes
    assert go.message == CONSOLIDATED
    assert sent["c-1"] == [NOW - timedelta(hours=1), NOW - timedelta(hours=2)]  # not mutated


def test_the_cap_and_quiet_waits_say_until_when() -> None:
    sent = [NOW - timedelta(hours=h) for h in (1, 5, 9)]
    capped = Case([_n()], sent={"c-1": sent}).run()
    assert capped.changes[0].not_before == NOW - timedelta(hours=9) + DAY
    flying = Case([_n()], sent={"c-1": sent[:2]}, in_flight={"c-1": 1}).run()
    assert flying.changes[0].not_before == NOW + SETTLE
    night = Case([_n(quiet=QUIET)], at=NIGHT).run()
    assert night.changes[0].not_before == datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # 08:00


def test_a_row_a_mute_rule_raises_on_fails_alone() -> None:
    def fragile(
        n: Notification, c: Customer | None, p: Promise | None, now: datetime
    ) -> Muted | None:
        if c is not None and c.id == "c-2":
            raise KeyError("region")  # a rule reading an attribute this customer lacks
        return None

    bea = replace(ANA, id=CustomerId("c-2"))
    situation = Situation(BOTH, ops_address="o@x", mutes=(fragile,))
    case = Case([_n(1), _n(2, pid=8, customer_id="c-2")], customers={"c-1": ANA, "c-2": bea},
                situation=situation)  # fmt: skip
    decision = case.run()
    assert [(int(f.notification.id), f.reason, f.text) for f in decision.faults] == [
        (2, "route_error", "KeyError: 'region'")
    ]
    (change,) = decision.changes
    assert (change.id, change.status, change.error_code) == (2, NotificationStatus.FAILED,
                                                             "route_error")  # fmt: skip
    assert [int(g.notification.id) for g in decision.goes] == [1]


def test_an_unreadable_customer_row_fails_its_notifications_only() -> None:
    claim = Claim([_n(1), _n(2, pid=8, customer_id="c-2")], {"c-1": ANA},
                  {7: _broken(), 8: _broken(8)}, {}, unreadable={"c-2": "bad JSON"})  # fmt: skip
    decision = decide(claim, Situation(BOTH), NOW)
    assert [int(g.notification.id) for g in decision.goes] == [1]
    assert [(int(f.notification.id), f.reason, f.text) for f in decision.faults] == [
        (2, "unreadable_row", "bad JSON")
    ]

"""What follows an outcome: one table after a send, one after a delivery report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from notifier.domain.consequences import (
    AfterSend,
    ChannelDown,
    Effect,
    MarkUndeliverable,
    RecordOptOut,
    after_report,
    after_send,
)
from notifier.domain.models import (
    ChannelName,
    NotificationStatus,
)
from notifier.domain.outbox import Change, Notification
from notifier.domain.outcomes import Outcome, OutcomeKind, Reason, accepted, unexpected
from notifier.domain.routing import Send, Via
from tests.outbox_fixtures import ANA, NOW, Ceiling, sending_row

PHONE = "+5491155550101"
ROUTE = Send("sms", PHONE, Via.LAST_USED)
MAX_ATTEMPTS = 8
K = OutcomeKind
P, S, F = NotificationStatus.PENDING, NotificationStatus.SENT, NotificationStatus.FAILED


_n = sending_row


def _row(c: Change) -> tuple[int, NotificationStatus | None, str, timedelta | None, str | None]:
    """Return what a change does, compared in the tables: id, status, event, due, channel failed."""
    due = c.not_before - NOW if c.not_before is not None else None
    return c.id, c.status, c.event.type if c.event else "", due, c.fail_channel


def _permanent(reason: Reason, code: str, **flags: bool) -> Outcome:
    return Outcome(K.PERMANENT, reason, "provider text", code, **flags)  # type: ignore[arg-type]


def _transient(retry_after: timedelta | None = None) -> Outcome:
    return Outcome(K.TRANSIENT, Reason.RATE_LIMITED, "slow down", "20429", retry_after)


SEC = timedelta(seconds=1)
DOWN = Outcome(K.CHANNEL_DOWN, Reason.AUTH_FAILED, "Authenticate", "20003")
DOWN_LINE = "channel_down (auth_failed 20003): Authenticate"
BUG = unexpected(KeyError("sid"))
DEAD = MarkUndeliverable(ANA, "sms", PHONE)
STOP = RecordOptOut(ANA, "sms")

AFTER_SEND = [
    pytest.param(accepted("SM1", "queued"), 0, 0, [(1, S, "sent", None, None)], (),
                 id="accepted"),
    pytest.param(accepted("SM1", "queued"), 0, 2,
                 [(1, S, "sent", None, None), (2, S, "sent", None, None),
                  (3, S, "sent", None, None)], (), id="accepted-members-too"),
    pytest.param(_transient(), 0, 0, [(1, P, "retry", 5 * SEC, None)], (), id="retry-backoff"),
    pytest.param(_transient(), 3, 0, [(1, P, "retry", 40 * SEC, None)], (),
                 id="retry-backoff-grows"),
    pytest.param(_transient(60 * SEC), 0, 0, [(1, P, "retry", 60 * SEC, None)], (),
                 id="retry-after-wins"),
    pytest.param(_transient(SEC), 3, 0, [(1, P, "retry", 40 * SEC, None)], (),
                 id="retry-never-sooner-than-backoff"),
    pytest.param(_transient(), 0, 2,
                 [(1, P, "retry", 5 * SEC, None), (2, P, "unfolded", 5 * SEC, None),
                  (3, P, "unfolded", 5 * SEC, None)], (), id="retry-unfolds-members"),
    pytest.param(_transient(), MAX_ATTEMPTS - 1, 1,
                 [(1, P, "failed_channel", timedelta(0), "sms"),
                  (2, P, "unfolded", timedelta(0), None)], (), id="last-attempt-next-channel"),
    pytest.param(_permanent(Reason.REJECTED, "21408"), 0, 0,
                 [(1, P, "failed_channel", timedelta(0), "sms")], (), id="permanent"),
    pytest.param(_permanent(Reason.INVALID_ADDRESS, "21211", address_dead=True), 0, 0,
                 [(1, P, "failed_channel", timedelta(0), "sms")], (DEAD,), id="address-dead"),
    pytest.param(_permanent(Reason.OPTED_OUT, "21610", opted_out=True), 0, 1,
                 [(1, P, "failed_channel", timedelta(0), "sms"),
                  (2, P, "unfolded", timedelta(0), None)], (STOP,), id="opted-out"),
    pytest.param(DOWN, 0, 1,
                 [(1, P, "channel_down", timedelta(0), None),
                  (2, P, "unfolded", timedelta(0), None)], (ChannelDown("sms", DOWN_LINE),),
                 id="channel-down"),
    pytest.param(BUG, 0, 2, [(1, F, "failed", None, None), (2, F, "failed", None, None),
                             (3, F, "failed", None, None)], (), id="unexpected-members-fail"),
]  # fmt: skip


@pytest.mark.parametrize(("outcome", "attempts", "folded", "rows", "effects"), AFTER_SEND)
def test_after_send(
    outcome: Outcome,
    attempts: int,
    folded: int,
    rows: list[tuple[int, NotificationStatus, str, timedelta | None, str | None]],
    effects: tuple[Effect, ...],
) -> None:
    members = [_n(2 + i) for i in range(folded)]
    after = _after_send(_n(attempts=attempts), members, outcome)
    assert [_row(c) for c in after.changes] == rows
    assert after.effects == effects
    assert all(c.release for c in after.changes)


def _after_send(n: Notification, members: list[Notification], outcome: Outcome) -> AfterSend:
    return after_send(n, ROUTE, members, outcome, NOW, max_attempts=MAX_ATTEMPTS, rng=Ceiling())


def test_sent_members_take_the_channel_address_and_provider_id() -> None:
    (_, member) = _after_send(_n(), [_n(2)], accepted("SM1", "queued")).changes
    assert (member.channel, member.address, member.provider_id) == ("sms", PHONE, "SM1")
    assert member.sent_at == NOW and member.event is not None
    assert member.event.reason == "sent inside notification 1"


def test_the_history_says_why() -> None:
    retry = _after_send(_n(), [], _transient()).changes[0]
    assert retry.error == "transient (rate_limited 20429): slow down"
    assert retry.event is not None and retry.event.detail["next_try"] == "2026-11-24T15:00:05+00:00"
    last = _after_send(_n(attempts=MAX_ATTEMPTS - 1), [], _transient()).changes[0]
    assert last.error == "gave up after 8 attempts: transient (rate_limited 20429): slow down"
    stop = _permanent(Reason.OPTED_OUT, "21610", opted_out=True)
    opted = _after_send(_n(), [], stop).changes[0]
    assert opted.error == (
        "permanent (opted_out 21610): provider text; the customer is opted out of sms"
    )
    assert opted.error_code == "21610"
    dead = _permanent(Reason.INVALID_ADDRESS, "21211", address_dead=True)
    marked = _after_send(_n(), [], dead).changes[0]
    assert marked.error is not None and marked.error.endswith("marked undeliverable on sms")


def test_an_unexpected_error_fails_with_its_reason_and_members_share_it() -> None:
    primary, member = _after_send(_n(), [_n(2)], BUG).changes
    assert (primary.error_code, primary.error) == ("send_error", "send_error: KeyError: 'sid'")
    assert member.error == "send_error: inside notification 1: KeyError: 'sid'"
    assert BUG.reason is Reason.UNEXPECTED


def test_an_ops_notice_leaves_the_customer_addresses_and_consent_alone() -> None:
    ops = _n(audience="ops")
    route = Send("email", "ops@example.com", Via.RULE)
    for flags in ({"address_dead": True}, {"opted_out": True}):
        outcome = _permanent(Reason.RECIPIENT_REFUSED, "550", **flags)
        after = after_send(ops, route, [], outcome, NOW, max_attempts=8, rng=Ceiling())
        assert after.effects == ()
        assert after.changes[0].fail_channel == "email"


@pytest.mark.parametrize("kind", [K.DELIVERED, K.READ, K.IN_PROGRESS])
def test_a_delivery_report_is_not_a_send_outcome(kind: OutcomeKind) -> None:
    with pytest.raises(ValueError, match="not the outcome of a send"):
        _after_send(_n(), [], Outcome(kind))


def _report(kind: OutcomeKind, status: str, code: str | None = None, **flags: bool) -> Outcome:
    text = f"Twilio reports {status}" + (f" ({code}: meaning)" if code else "")
    reason = Reason.UNDELIVERED if kind is K.PERMANENT else None
    return Outcome(kind, reason, text, code, provider_id="SM1", status=status, **flags)  # type: ignore[arg-type]


SENT_ROW: dict[str, Any] = {"status": S, "channel": "sms", "address": PHONE, "provider_id": "SM1"}
DELIVERED = NotificationStatus.DELIVERED
D = DELIVERED

AFTER_REPORT = [
    pytest.param(_report(K.DELIVERED, "delivered"), S, 1, [(1, D, "delivered", None, None)],
                 [1], (), id="delivered"),
    pytest.param(_report(K.READ, "read"), S, 1, [(1, D, "delivered", None, None)], [1], (),
                 id="read-before-delivered"),
    pytest.param(_report(K.READ, "read"), D, 1, [(1, None, "read", None, None)], [], (),
                 id="read-after-delivered"),
    pytest.param(_report(K.DELIVERED, "delivered"), D, 1, [], [], (), id="delivered-again"),
    pytest.param(_report(K.IN_PROGRESS, "sent"), S, 1,
                 [(1, None, "provider_status", None, None)], [], (), id="in-progress"),
    pytest.param(_report(K.PERMANENT, "undelivered", "30003"), S, 1,
                 [(1, P, "undelivered", timedelta(0), "sms")], [], (), id="undelivered"),
    pytest.param(_report(K.PERMANENT, "failed", "21614", address_dead=True), S, 1,
                 [(1, P, "failed", timedelta(0), "sms")], [], (DEAD,), id="address-dead"),
    pytest.param(_report(K.PERMANENT, "undelivered", "21610", opted_out=True), S, 2,
                 [(1, P, "undelivered", timedelta(0), "sms"),
                  (2, P, "undelivered", timedelta(0), "sms")], [], (STOP,),
                 id="opted-out-folded-once"),
    pytest.param(_report(K.PERMANENT, "undelivered", "21610", opted_out=True), D, 1,
                 [(1, None, "provider_status", None, None)], [], (), id="late-changes-nothing"),
    pytest.param(_report(K.DELIVERED, "delivered"), NotificationStatus.PENDING, 1,
                 [(1, None, "provider_status", None, None)], [], (), id="late-delivered"),
]  # fmt: skip


@pytest.mark.parametrize(("report", "state", "count", "rows", "delivered", "effects"), AFTER_REPORT)
def test_after_report(
    report: Outcome,
    state: NotificationStatus,
    count: int,
    rows: list[tuple[int, NotificationStatus | None, str, timedelta | None, str | None]],
    delivered: list[int],
    effects: tuple[Effect, ...],
) -> None:
    found = [_n(1 + i, **{**SENT_ROW, "status": state}) for i in range(count)]
    after = after_report(found, report, NOW)
    assert [_row(c) for c in after.changes] == rows
    assert list(after.delivered) == delivered
    assert after.effects == effects


def test_a_report_says_why_in_the_history() -> None:
    sms = _n(**SENT_ROW)
    stop = _report(K.PERMANENT, "undelivered", "21610", opted_out=True)
    (moved,) = after_report([sms], stop, NOW).changes
    assert moved.error == (
        "Twilio reports undelivered (21610: meaning); the customer is opted out of sms; "
        "trying the next channel"
    )
    assert moved.unfold and moved.error_code == "21610"
    assert moved.event is not None and moved.event.detail == {
        "provider_id": "SM1", "status": "undelivered", "code": "21610"
    }  # fmt: skip
    (late,) = after_report([_n(status=DELIVERED)], stop, NOW).changes
    assert late.event is not None and late.event.reason == (
        "the provider reports undelivered (late: the notification is delivered already; "
        "nothing changes)"
    )


def test_a_report_on_an_ops_notice_leaves_the_customer_alone() -> None:
    ops = {**SENT_ROW, "audience": "ops", "channel": "email"}
    dead = _report(K.PERMANENT, "failed", "21211", address_dead=True)
    after = after_report([_n(**ops)], dead, NOW)
    assert after.effects == () and after.changes[0].fail_channel == "email"


def test_a_row_without_a_channel_only_gets_a_history_line() -> None:
    channel: ChannelName | None = None
    report = _report(K.PERMANENT, "failed", "21211", address_dead=True)
    after = after_report([_n(**{**SENT_ROW, "channel": channel})], report, NOW)
    assert [_row(c) for c in after.changes] == [(1, None, "provider_status", None, None)]
    assert after.effects == ()

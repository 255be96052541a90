"""Attempts per channel, and throttling that is never the recipient's failure (issue 16).

NOTIFIER_MAX_ATTEMPTS counts tries on one channel; the next channel starts with none
counted; a throttled send (HTTP 429 and its kin) is no attempt, keeps its channel, and
waits what the provider asked.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from notifier.domain.consequences import AfterSend, Throttled, after_report, after_send
from notifier.domain.dispatch import THROTTLE_DEFAULT, THROTTLE_FLOOR, THROTTLE_MAX, throttle_wait
from notifier.domain.models import (
    ChannelName,
    Customer,
    NotificationStatus,
)
from notifier.domain.outbox import Change, Notification
from notifier.domain.outcomes import Outcome, OutcomeKind, Reason
from notifier.domain.routing import Send, Suppress, route
from tests.outbox_fixtures import ANA, NOW, Ceiling, sending_row

CUSTOMER = Customer(ANA, "es-AR", "America/Argentina/Buenos_Aires", phone="+5491155550101",
                    email="ana@example.com", last_used_channel="sms")  # fmt: skip
MAX = 4
K = OutcomeKind
P, F = NotificationStatus.PENDING, NotificationStatus.FAILED
SEC = timedelta(seconds=1)


_n = sending_row


def _route(channel: ChannelName) -> Send:
    decision = route(CUSTOMER, "last_used", ("email",), {"sms", "email"}, set(), NOW)
    assert isinstance(decision, Send)
    address = CUSTOMER.address(channel)
    assert address is not None
    return replace(decision, channel=channel, address=address)


def throttled(retry_after: timedelta | None = SEC, code: str = "20429") -> Outcome:
    return Outcome(K.THROTTLED, Reason.RATE_LIMITED, "Too Many Requests", code, retry_after)


TRANSIENT = Outcome(K.TRANSIENT, Reason.PROVIDER_ERROR, "Internal Server Error", "20500")
PERMANENT = Outcome(K.PERMANENT, Reason.REJECTED, "Message body is invalid", "21602")


def _after(
    n: Notification, outcome: Outcome, members: int = 0, channel: ChannelName = "sms"
) -> AfterSend:
    folded = [_n(10 + i) for i in range(members)]
    return after_send(n, _route(channel), folded, outcome, NOW, max_attempts=MAX, rng=Ceiling())


# outcome, attempts before the send -> (status, event, due, channel failed, attempts set)
TABLE = [
    pytest.param(throttled(), 0, (P, "throttled", 1.2 * SEC, None, 0), id="429-first-try"),
    pytest.param(throttled(), MAX - 1, (P, "throttled", 1.2 * SEC, None, MAX - 1),
                 id="429-on-the-last-attempt-is-no-attempt"),
    pytest.param(throttled(), MAX + 5, (P, "throttled", 1.2 * SEC, None, MAX + 5),
                 id="429-past-the-attempts-still-waits"),
    pytest.param(throttled(90 * SEC, "429"), 2, (P, "throttled", 108 * SEC, None, 2),
                 id="x-rate-limit-reset"),
    pytest.param(throttled(timedelta(0)), 0, (P, "throttled", 1.2 * THROTTLE_FLOOR, None, 0),
                 id="retry-after-0-waits-the-floor"),
    pytest.param(throttled(None, "421"), 0, (P, "throttled", 1.2 * THROTTLE_DEFAULT, None, 0),
                 id="no-retry-after-waits-the-default"),
    pytest.param(TRANSIENT, 0, (P, "retry", 5 * SEC, None, None), id="transient-counts"),
    pytest.param(TRANSIENT, MAX - 2, (P, "retry", 20 * SEC, None, None),
                 id="transient-before-the-last"),
    pytest.param(TRANSIENT, MAX - 1, (P, "failed_channel", timedelta(0), "sms", 0),
                 id="transient-last-moves-on-fresh"),
    pytest.param(PERMANENT, 2, (P, "failed_channel", timedelta(0), "sms", 0),
                 id="permanent-moves-on-fresh"),
]  # fmt: skip


@pytest.mark.parametrize(("outcome", "attempts", "expected"), TABLE)
def test_after_send_counts_attempts_per_channel(
    outcome: Outcome, attempts: int, expected: tuple[Any, ...]
) -> None:
    (change,) = _after(_n(attempts=attempts), outcome).changes
    assert change.event is not None and change.not_before is not None
    got = (change.status, change.event.type, change.not_before - NOW, change.fail_channel,
           change.attempts)  # fmt: skip
    assert got == expected
    assert change.release and not change.count_attempt


@pytest.mark.parametrize("attempts", range(0, MAX + 3))
@pytest.mark.parametrize("members", [0, 2])
def test_a_429_never_ends_failed_nor_moves_the_customer_off_their_channel(
    attempts: int, members: int
) -> None:
    after = _after(_n(attempts=attempts), throttled(), members)
    assert all(c.status is P for c in after.changes)
    assert all(c.fail_channel is None and c.error is None for c in after.changes)
    assert after.changes[0].attempts == attempts  # the attempt counted at send is given back
    types = [c.event.type for c in after.changes if c.event]
    assert types == ["throttled"] + ["unfolded"] * members
    assert after.effects == (Throttled("sms", SEC),)


def test_the_limiter_pause_is_never_under_the_floor() -> None:
    assert _after(_n(), throttled(None)).effects == (Throttled("sms", THROTTLE_FLOOR),)
    assert _after(_n(), throttled(timedelta(0))).effects == (Throttled("sms", THROTTLE_FLOOR),)
    assert _after(_n(), throttled(30 * SEC)).effects == (Throttled("sms", 30 * SEC),)


def test_a_wait_of_days_or_more_is_honoured_for_an_hour_at_most() -> None:
    # A row and its channel ask again after THROTTLE_MAX; a year's wait (or 31,000 years of
    # garbage) neither parks them for good nor overflows the instant it is added to.
    for asked in (timedelta(days=2), timedelta(days=365), timedelta(seconds=10**12)):
        after = _after(_n(), throttled(asked))
        assert after.effects == (Throttled("sms", THROTTLE_MAX),)
        due = after.changes[0].not_before
        assert due is not None and NOW + THROTTLE_MAX <= due <= NOW + THROTTLE_MAX * 1.2


def test_throttle_wait_is_never_sooner_than_retry_after() -> None:
    rng = random.Random(16)
    for seconds in (0, 1, 7, 900):
        asked = timedelta(seconds=seconds)
        for _ in range(50):
            wait = throttle_wait(asked, rng)
            assert max(asked, THROTTLE_FLOOR) <= wait <= max(asked, THROTTLE_FLOOR) * 1.2


def test_a_delivery_report_moving_on_starts_the_next_channel_fresh() -> None:
    sent = _n(status=NotificationStatus.SENT, channel="sms", address="+5491155550101",
              provider_id="SM1", attempts=3)  # fmt: skip
    report = Outcome(K.PERMANENT, Reason.UNDELIVERED, "Twilio reports undelivered", "30003",
                     provider_id="SM1", status="undelivered")  # fmt: skip
    (moved,) = after_report([sent], report, NOW).changes
    assert (moved.fail_channel, moved.attempts) == ("sms", 0)


def _apply(n: Notification, change: Change, channel: ChannelName) -> Notification:
    """What the store does with the attempt (counted before the send) and then ``change``."""
    attempts = change.attempts if change.attempts is not None else n.attempts + 1
    failed = n.failed_channels | ({change.fail_channel} if change.fail_channel else set())
    return replace(n, attempts=attempts, failed_channels=frozenset(failed), channel=channel)


@pytest.mark.parametrize("every", [0, 2, 3])
def test_each_channel_gets_its_full_attempts_and_only_then_the_row_fails(every: int) -> None:
    """A provider failing every send for a moment (and throttling every ``every``th)."""
    n, tries, sends = _n(), {"sms": 0, "email": 0}, 0
    while True:
        decision = route(CUSTOMER, n.channel_choice, n.fallback, {"sms", "email"},
                         n.failed_channels, NOW)  # fmt: skip
        if isinstance(decision, Suppress):
            break
        channel = decision.channel
        sends += 1
        outcome = throttled() if every and sends % every == 0 else TRANSIENT
        tries[channel] += outcome.kind is K.TRANSIENT
        (change,) = _after(n, outcome, channel=channel).changes
        assert change.status is not F
        n = _apply(n, change, channel)
        assert sends < 100
    assert tries == {"sms": MAX, "email": MAX}
    assert n.failed_channels == {"sms", "email"}


def test_the_history_words_each_outcome_truthfully() -> None:
    (retry,) = _after(_n(attempts=1), TRANSIENT).changes
    assert retry.event is not None and retry.event.reason == (
        "transient (provider_error 20500): Internal Server Error; attempt 2 of 4 on sms"
    )
    assert retry.error == "transient (provider_error 20500): Internal Server Error"
    (wait,) = _after(_n(attempts=1), throttled(90 * SEC, "429"), channel="email").changes
    assert wait.event is not None and wait.event.reason == (
        "throttled (rate_limited 429): Too Many Requests; retry after 1m30s; "
        "not counted as an attempt on email"
    )
    assert wait.event.detail["retry_after"] == 90.0
    (silent,) = _after(_n(), throttled(None, "421")).changes
    assert silent.event is not None and "no retry-after given" in str(silent.event.reason)
    (moved,) = _after(_n(attempts=MAX - 1), TRANSIENT).changes
    assert moved.error == (
        "gave up after 4 attempts: transient (provider_error 20500): Internal Server Error"
    )

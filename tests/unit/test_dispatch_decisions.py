"""The dispatcher's pure decisions: still true at send time, backoff, the frequency cap."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.dispatch import DAY, MAX_BACKOFF, backoff, capped_until, moot_reason
from notifier.domain.models import (
    CustomerId,
    NotificationId,
    NotificationStatus,
    PromiseId,
    PromiseStatus,
)
from notifier.domain.outbox import Notification
from tests.rules_fixtures import promise

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _n(stage: str, version: int = 1) -> Notification:
    return Notification(
        id=NotificationId(1), dedupe_key="r:7:1:0", customer_id=CustomerId("c-1"),
        promise_id=PromiseId(7), rule_id="r", message="delivery_late", stage=stage, step=0,
        priority="normal", audience="customer", channel_choice="last_used", fallback=(),
        failed_channels=frozenset(), status=NotificationStatus.SENDING, not_before=NOW,
        attempts=0, deadline_version=version, quiet_hours=None, created_at=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stage", "status", "version", "moot"),
    [
        pytest.param("late", PromiseStatus.BROKEN, 1, False, id="late-still-late"),
        pytest.param("late", PromiseStatus.KEPT, 1, True, id="late-but-kept"),
        pytest.param("at_risk", PromiseStatus.CANCELLED, 1, True, id="at-risk-but-cancelled"),
        pytest.param("repeat", PromiseStatus.OPEN, 2, True, id="repeat-but-rescheduled"),
        pytest.param("kept", PromiseStatus.KEPT, 1, False, id="thanks-still-kept"),
        pytest.param("kept", PromiseStatus.BROKEN, 1, True, id="thanks-but-broken-again"),
        pytest.param("rescheduled", PromiseStatus.OPEN, 2, False, id="rescheduled-current"),
        pytest.param("rescheduled", PromiseStatus.OPEN, 3, True, id="rescheduled-superseded"),
    ],
)
def test_moot_reason(stage: str, status: PromiseStatus, version: int, moot: bool) -> None:
    current = promise(status=status, version=version)
    n = _n(stage, version=2 if stage == "rescheduled" else 1)
    assert (moot_reason(n, current) is not None) is moot


def test_a_vanished_promise_cancels() -> None:
    assert moot_reason(_n("late"), None) == "the promise no longer exists"
    assert moot_reason(replace(_n("late"), promise_id=None), None) is None


@given(st.integers(1, 40), st.integers(0, 2**31))
def test_backoff_grows_is_bounded_and_jittered(attempts: int, seed: int) -> None:
    wait = backoff(attempts, None, random.Random(seed))
    assert timedelta(0) < wait <= MAX_BACKOFF
    assert wait >= min(MAX_BACKOFF, timedelta(seconds=5) * 2 ** (attempts - 1)) / 2


@given(st.integers(1, 10), st.integers(0, 7200))
def test_backoff_never_undercuts_retry_after(attempts: int, seconds: int) -> None:
    retry_after = timedelta(seconds=seconds)
    assert backoff(attempts, retry_after, random.Random(0)) >= retry_after


@pytest.mark.parametrize(
    ("hours_ago", "cap", "expected"),
    [
        pytest.param([], 3, None, id="none-sent"),
        pytest.param([1, 2], 3, None, id="under-cap"),
        pytest.param([1, 2, 3], 3, 21, id="at-cap-waits-for-oldest"),
        pytest.param([1, 2, 30], 3, None, id="old-ones-do-not-count"),
        pytest.param([1, 5, 10, 20], 3, 14, id="over-cap"),
    ],
)
def test_frequency_cap(hours_ago: list[int], cap: int, expected: int | None) -> None:
    sent = [NOW - timedelta(hours=h) for h in hours_ago]
    until = capped_until(sent, cap, NOW)
    assert until == (None if expected is None else NOW + timedelta(hours=expected))


@given(st.lists(st.integers(0, 48 * 60), max_size=10), st.integers(1, 5))
def test_after_the_cap_lifts_the_window_holds_fewer_than_cap(
    minutes_ago: list[int], cap: int
) -> None:
    sent = [NOW - timedelta(minutes=m) for m in minutes_ago]
    until = capped_until(sent, cap, NOW)
    if until is None:
        assert len([s for s in sent if s > NOW - DAY]) < cap
    else:
        assert until > NOW
        assert len([s for s in sent if s > until - DAY]) < cap

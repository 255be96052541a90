"""The cluster's rate (GCRA): whoever asks, in whatever order, no 1-second window holds
more than the rate plus one grant; a Retry-After holds everyone; the daily quota counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.pacing import (
    DAY_SECONDS,
    BucketState,
    day_of,
    next_day,
    reserve,
    share,
    throttle,
)

T0 = 1_800_000_000.0  # an instant, seconds since the epoch


def _worst_window(grants: list[tuple[float, float]]) -> float:
    """The most cost granted in any 1-second window [t, t + 1) (t at a grant: the worst)."""
    grants = sorted(grants)
    return max(sum(c for s, c in grants if start <= s < start + 1.0) for start, _ in grants)


# Each request: (seconds after the previous request, cost, replicas asking at once).
requests = st.lists(
    st.tuples(st.floats(0.0, 0.5), st.sampled_from([1.0, 1.0, 2.0, 3.0]), st.integers(1, 3)),
    min_size=1,
    max_size=60,
)


@given(st.floats(0.5, 500.0), requests, st.booleans())
def test_no_window_sees_more_than_the_rate_plus_one_message(
    rate: float, asks: list[tuple[float, float, int]], batched: bool
) -> None:
    state, now, grants = BucketState(), T0, []
    for gap, cost, replicas in asks:
        now += gap
        for _ in range(replicas):  # replicas asking at the same instant, one after another
            if batched:  # one reservation for three messages, split as share() does
                state, r = reserve(state, 3 * cost, rate, now, count=3)
                assert r.slot is not None and r.slot >= now
                grants += [(s, cost) for s in share(r.slot, [cost] * 3, rate)]
            else:
                state, r = reserve(state, cost, rate, now)
                assert r.slot is not None and r.slot >= now
                grants.append((r.slot, cost))
    assert _worst_window(grants) <= rate + 3.0 + 1e-6  # the rate plus one grant (cost <= 3)
    assert _worst_window(grants) <= rate + max(c for _, c in grants) + 1e-6


@given(st.floats(1.0, 200.0), st.integers(2, 400))
def test_a_waiting_backlog_goes_at_the_rate_on_average(rate: float, n: int) -> None:
    state, slots = BucketState(), []
    for _ in range(n):
        state, r = reserve(state, 1.0, rate, T0)
        assert r.slot is not None
        slots.append(r.slot)
    span = pytest.approx((n - 1) / rate, abs=1e-4)  # epochs as floats: ~1e-7 s each step
    assert slots[0] == T0 and slots[-1] - slots[0] == span


def test_no_burst_is_saved_while_idle() -> None:
    state, _ = reserve(BucketState(), 1.0, 10.0, T0)
    state, first = reserve(state, 1.0, 10.0, T0 + 60.0)
    state, second = reserve(state, 1.0, 10.0, T0 + 60.0)
    assert (first.slot, second.slot) == (T0 + 60.0, pytest.approx(T0 + 60.1))


def test_sms_segments_cost_their_count() -> None:
    state, a = reserve(BucketState(), 3.0, 10.0, T0)
    state, b = reserve(state, 1.0, 10.0, T0)
    assert (a.slot, b.slot) == (T0, pytest.approx(T0 + 0.3))


def test_retry_after_holds_every_grant_back() -> None:
    state = throttle(BucketState(), T0, 2.5)
    state, r = reserve(state, 1.0, 10.0, T0 + 1.0)
    assert r.slot == T0 + 2.5 and r.wait == pytest.approx(1.5)
    assert throttle(state, T0, 1.0).blocked_until == T0 + 2.5  # a shorter one shortens nothing


def test_the_daily_quota_counts_messages_and_a_new_day_starts_afresh() -> None:
    state = BucketState()
    for _ in range(3):
        state, r = reserve(state, 1.0, 100.0, T0, per_day=3)
        assert r.slot is not None
    refused_state, refused = reserve(state, 1.0, 100.0, T0 + 1.0, per_day=3)
    assert refused.slot is None and refused.retry_at == next_day(T0) and refused.wait == 0.0
    assert refused_state == state  # nothing taken
    tomorrow = next_day(T0) + 1.0
    state, r = reserve(state, 1.0, 100.0, tomorrow, per_day=3)
    assert r.slot == tomorrow and state.day_count == 1 and state.day == day_of(tomorrow)


def test_days_are_utc_days() -> None:
    assert next_day(T0) - DAY_SECONDS <= T0 < next_day(T0)
    assert day_of(next_day(T0)) == day_of(T0) + 1


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        reserve(BucketState(), 1.0, 0.0, T0)

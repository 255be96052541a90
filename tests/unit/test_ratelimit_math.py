"""The cluster's rate (GCRA): whoever asks, in whatever order, no 1-second window holds
more than the rate plus one grant; a Retry-After holds everyone; the daily quota counts.

At departure: slots spaced at the margin (``spaced``), each request leaving anywhere
within ``LATENESS`` after its slot or giving the slot up, still hold the rate plus one
message in every sliding second; each process's clock bounds place its departures there.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain.pacing import (
    DAY_SECONDS,
    LATENESS,
    BucketState,
    ClockBounds,
    day_of,
    next_day,
    reserve,
    share,
    spaced,
    throttle,
)

T0 = 1_800_000_000.0  # an instant, seconds since the epoch
EPS = 1e-6  # seconds: epochs as floats are exact to about 2e-7 s


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


# Each grant's fate at the fence: how late it leaves, as a share of LATENESS (1.0: at the
# fence itself), or None: it woke past the fence, gave the slot up and asks again.
fates = st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), min_size=1, max_size=40)


@given(st.floats(0.5, 500.0), requests, fates, st.booleans())
def test_departures_within_the_fence_of_slots_at_the_margin_hold_the_rate_plus_one(
    rate: float, asks: list[tuple[float, float, int]], late: list[float | None], batched: bool
) -> None:
    state, now, left = BucketState(), T0, []
    per_second, k = spaced(rate), 0
    for gap, cost, replicas in asks:
        now += gap
        for _ in range(replicas):
            for tries in range(3):  # a slot given up is lost; the send reserves anew
                n = 3 if batched else 1
                state, r = reserve(state, n * cost, per_second, now, count=n)
                assert r.slot is not None
                missed = False
                for slot in share(r.slot, [cost] * n, per_second):
                    fate = late[k % len(late)] if tries < 2 else 1.0
                    k += 1
                    if fate is None:
                        missed = True
                        now = max(now, slot + LATENESS)  # it noticed past the fence
                    else:
                        left.append((slot + fate * LATENESS, cost))
                if not missed:
                    break
    if left:
        assert _worst_window(left) <= rate + max(c for _, c in left) + 1e-6


@pytest.mark.parametrize(
    ("rate", "granted"),
    [(0.5, 0.5), (10.0, 10.0), (50.0, 50.0), (100.0, 99.0196), (1000.0, 981.3725)],
)
def test_the_margin_is_what_whole_messages_leave_of_the_fence(rate: float, granted: float) -> None:
    assert spaced(rate) == pytest.approx(granted, abs=1e-3)
    assert spaced(rate) <= rate


def test_without_the_margin_late_departures_would_exceed_the_rate_plus_one() -> None:
    """The same lateness with slots spaced at the rate itself: 102 in a second at 100/s."""
    rate = 100.0

    def departures(per_second: float) -> list[tuple[float, float]]:
        state, left = BucketState(), []
        for k in range(300):
            state, r = reserve(state, 1.0, per_second, T0)
            assert r.slot is not None
            left.append((r.slot + (0.9 * LATENESS if k < 3 else 0.0), 1.0))  # 3 woke late
        return left

    assert _worst_window(departures(rate)) == rate + 2
    assert _worst_window(departures(spaced(rate))) <= rate + 1


@given(
    st.floats(-5.0, 5.0),
    st.lists(st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 0.05), st.floats(0.0, 1.0)),
             min_size=1, max_size=30),
    st.floats(0.0, 100.0),
)  # fmt: skip
def test_the_clock_bounds_place_every_departure_between_its_slot_and_the_fence(
    offset: float, answers: list[tuple[float, float, float]], slot_after: float
) -> None:
    """Whatever the true offset and round trips, a request leaving within its
    ``departure`` leaves within [slot, slot + LATENESS] on the database's clock."""
    bounds, local = ClockBounds(), T0
    for gap, trip, read in answers:
        local += gap
        db_now = local + read * trip - offset  # the database read its clock meanwhile
        bounds.observe(local, db_now, local + trip)
        local += trip
        assert bounds.low <= offset + EPS and offset <= bounds.high + EPS
    slot = local - offset + slot_after
    d = bounds.departure(slot)
    if d.latest >= d.earliest:  # else no instant is safe: the send takes a new slot
        for at in (d.earliest, d.latest):
            assert slot - EPS <= at - offset <= slot + LATENESS + EPS


def test_the_clock_bounds_narrow_with_answers_and_forget_old_ones() -> None:
    bounds = ClockBounds(horizon=10.0)
    bounds.observe(T0, T0 + 0.004, T0 + 0.010)  # local - database: -4 ms to 6 ms
    assert (bounds.low, bounds.high) == pytest.approx((-0.004, 0.006), abs=EPS)
    bounds.observe(T0 + 1.0, T0 + 1.0, T0 + 1.002)
    assert (bounds.low, bounds.high) == pytest.approx((0.0, 0.002), abs=EPS)
    bounds.observe(T0 + 20.0, T0 + 20.0 - 0.001, T0 + 20.05)  # the old answers forgotten
    assert (bounds.low, bounds.high) == pytest.approx((0.001, 0.051), abs=EPS)


def test_answers_that_disagree_keep_the_newest_alone() -> None:
    """A clock was stepped: the old bounds no longer hold, the newest answer does."""
    bounds = ClockBounds()
    bounds.observe(T0, T0, T0 + 0.001)
    bounds.observe(T0 + 1.0, T0 + 1.0 - 2.0, T0 + 1.001)  # the database now 2 s behind
    assert (bounds.low, bounds.high) == pytest.approx((2.0, 2.001), abs=EPS)
    with pytest.raises(ValueError):
        bounds.observe(T0 + 2.0, T0, T0 + 1.0)

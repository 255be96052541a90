"""The sender's token bucket: slots never closer than the rate, in arrival order."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.engine.delivery import ratelimit
from notifier.engine.delivery.ratelimit import Rate, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _slots(rate: Rate, costs: list[float], monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Return the instant each acquire may go, without sleeping: time is a fake clock."""
    clock = Clock()
    granted: list[float] = []

    async def sleep(seconds: float) -> None:
        granted.append(clock.t + seconds)

    monkeypatch.setattr(ratelimit.asyncio, "sleep", sleep)

    async def run() -> None:
        bucket = TokenBucket(rate, now=clock)
        for cost in costs:
            before = len(granted)
            await bucket.acquire(cost)
            if len(granted) == before:
                granted.append(clock.t)  # no wait: it goes now

    asyncio.run(run())
    return granted


def test_concurrent_callers_are_paced_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = _slots(Rate(10.0), [1.0] * 5, monkeypatch)
    assert slots == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])


def test_sms_segments_cost_their_count(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = _slots(Rate(10.0), [3.0, 3.0, 1.0], monkeypatch)
    assert slots == pytest.approx([1000.0, 1000.3, 1000.6])


def test_a_burst_lets_that_many_go_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = _slots(Rate(10.0, burst=3.0), [1.0] * 4, monkeypatch)
    # The bucket starts full: up to 3 tokens, so the first three go at once (the saved
    # window reaches back 0.2 s), then the rate applies.
    assert slots[:3] == pytest.approx([1000.0, 1000.0, 1000.0]) and slots[3] > 1000.0


@given(st.floats(0.5, 2000.0), st.lists(st.sampled_from([1.0, 2.0, 3.0]), min_size=2, max_size=40))
def test_never_above_the_rate(rate: float, costs: list[float]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        slots = _slots(Rate(rate), costs, mp)
    first = slots[0]
    spent = 0.0
    for slot, cost in zip(slots, costs, strict=True):
        # Everything granted before this slot fits the rate since the first send.
        assert spent <= rate * (slot - first) + 1e-6
        spent += cost


def test_on_the_event_loop_no_send_goes_ahead_of_the_rate() -> None:
    """Real sleeps: 60 callers at once, 40 more trickling in after an idle spell. By each
    release, at most 1 + rate x (time since the first release) have gone: the loop wakes
    a sleeper late, never early, and an idle spell saves no tokens (no burst)."""
    rate = 500.0

    async def run() -> list[float]:
        bucket = TokenBucket(Rate(rate))
        released: list[float] = []

        async def caller(delay: float) -> None:
            await asyncio.sleep(delay)
            await bucket.acquire()
            released.append(time.monotonic())

        delays = [0.0] * 60 + [0.3 + i * 0.001 for i in range(40)]
        await asyncio.gather(*(caller(d) for d in delays))
        return sorted(released)

    released = asyncio.run(run())
    # Slack: the first release is stamped a few microseconds after its slot.
    assert all(i <= rate * (t - released[0]) + 0.05 for i, t in enumerate(released))


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(Rate(0.0))


class _Sleeper:
    """asyncio.sleep on the fake clock: time moves by what is slept; ``during`` runs once."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.during: list[object] = []

    async def __call__(self, seconds: float) -> None:
        while self.during:
            hook = self.during.pop()
            assert callable(hook)
            hook()
        self.clock.t += seconds


def test_throttle_holds_every_send_until_the_pause_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(ratelimit.asyncio, "sleep", _Sleeper(clock))

    async def run() -> list[float]:
        bucket = TokenBucket(Rate(10.0), now=clock)
        bucket.throttle(2.0)
        bucket.throttle(0.5)  # a shorter pause never shortens the one in force
        released = []
        for _ in range(3):
            await bucket.acquire()
            released.append(clock.t)
        return released

    # The pause ends at 1002; then the rate again, no burst of saved-up tokens.
    assert asyncio.run(run()) == pytest.approx([1002.0, 1002.1, 1002.2])


def test_a_caller_already_waiting_for_its_slot_waits_out_a_new_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    sleeper = _Sleeper(clock)
    monkeypatch.setattr(ratelimit.asyncio, "sleep", sleeper)

    async def run() -> list[float]:
        bucket = TokenBucket(Rate(10.0), now=clock)
        await bucket.acquire()  # goes at 1000.0
        # The next slot is 1000.1; while its caller sleeps, the provider says "wait 5 s".
        sleeper.during.append(lambda: bucket.throttle(5.0))
        await bucket.acquire()
        return [clock.t]

    assert asyncio.run(run()) == pytest.approx([1005.0])

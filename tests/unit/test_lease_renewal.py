"""Leases are renewed well before they run out, however short NOTIFIER_LEASE is."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.engine.wiring.jobs import HOUSEKEEPING_EVERY, RENEW_FLOOR, renew_every


@pytest.mark.parametrize(
    ("lease", "every"),
    [
        (timedelta(seconds=60), HOUSEKEEPING_EVERY),  # the default lease: every 10 s
        (timedelta(seconds=15), timedelta(seconds=5)),
        (timedelta(seconds=2), timedelta(seconds=2) / 3),  # a replica's rows never lapse
        (timedelta(seconds=1), RENEW_FLOOR),  # never a busy loop
    ],
)
def test_a_lease_is_renewed_every_third_of_it_at_most_every_ten_seconds(
    lease: timedelta, every: timedelta
) -> None:
    assert renew_every(lease) == every
    assert renew_every(lease) < lease

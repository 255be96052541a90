"""The demo shows an SMS apology whatever the hour: some SMS customer told now is awake.

Checked over every UTC hour of a winter and a summer day (daylight saving moves Madrid,
Chicago, Tijuana and Sydney), against the default quiet hours (21:00 to 08:00 local).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.config import Settings
from notifier.engine.ingest.demo import _PEOPLE, _last, _Plan, _plans


def _told_now(plan: _Plan) -> bool:
    """Already late, or at risk on the carrier's word (the at-risk rule speaks at once)."""
    return plan.due < timedelta(0) or "carrier_status" in (plan.attributes or {})


def _awake(tz: str, at: datetime, start: time, end: time) -> bool:
    local = at.astimezone(ZoneInfo(tz)).time()
    return end <= local < start


@pytest.mark.parametrize(
    "day", [datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)]
)
def test_some_sms_customer_with_a_late_promise_is_outside_quiet_hours_at_every_utc_hour(
    day: datetime,
) -> None:
    settings = Settings()
    start = time.fromisoformat(settings.quiet_hours_start)
    end = time.fromisoformat(settings.quiet_hours_end)
    late_on_sms = [
        row[3]
        for index, row in enumerate(_PEOPLE)
        if _last(index) == "sms" and any(_told_now(plan) for plan in _plans(index))
    ]
    for hour in range(24):
        at = day + timedelta(hours=hour)
        assert any(_awake(tz, at, start, end) for tz in late_on_sms), at.isoformat()

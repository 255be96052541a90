"""Quiet hours, evaluated in the customer's own timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class QuietAction(StrEnum):
    DEFER = "defer"  # send when the window ends
    DROP = "drop"  # do not send at all
    SEND = "send"  # let it through (crisis messages)


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    action: QuietAction = QuietAction.DEFER


@lru_cache(maxsize=1024)  # a few dozen zones, asked for on every moment of every scan
def zone(name: str) -> ZoneInfo:
    """Return the customer's zone; an unknown name counts as UTC rather than stopping a scan.

    The dispatcher reads zones the same way: a row written before zones were checked
    (``Nowhere/City``) waits out quiet hours in UTC, as the scan planned it.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def is_quiet(at: datetime, quiet: QuietHours, tz: ZoneInfo) -> bool:
    """True when ``at`` falls inside the quiet window in ``tz``."""
    return quiet_until(at, quiet, tz) is not None


def quiet_until(at: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime | None:
    """Return the UTC instant the quiet window around ``at`` ends, or None if not quiet.

    The window may cross midnight (21:00-08:00). Local times that do not exist on a
    DST day are resolved forward, so the result is never inside the window.
    """
    if quiet.start == quiet.end:
        return None
    local = at.astimezone(tz)
    t = local.timetz().replace(tzinfo=None)
    crosses_midnight = quiet.start > quiet.end
    if crosses_midnight:
        inside = t >= quiet.start or t < quiet.end
        end_day = local.date() + timedelta(days=1) if t >= quiet.start else local.date()
    else:
        inside = quiet.start <= t < quiet.end
        end_day = local.date()
    if not inside:
        return None
    end_local = _resolve(datetime.combine(end_day, quiet.end), tz)
    end = end_local.astimezone(UTC)
    return end if end > at else None


def _resolve(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a naive local time.

    A time skipped by DST is moved later by the length of the gap (as java.time does),
    and an ambiguous one takes its first occurrence: fold=0 does both.
    """
    return naive.replace(tzinfo=tz, fold=0)

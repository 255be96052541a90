"""The clock the shell reads once per decision: system time, or a start instant in test mode."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from notifier.config import ClockSettings


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The system clock moved by ``offset``; in test mode ``advance`` moves it at run time.

    With ``start`` (``NOTIFIER_NOW``, test mode only) the clock reads ``start`` when it is
    made and runs on from there at the machine's pace, measured on the monotonic clock: a
    test or a tool gets the same instants whatever the date on the machine.
    """

    def __init__(self, offset: timedelta = timedelta(0), start: datetime | None = None) -> None:
        self.offset = offset
        self._start = start.astimezone(UTC) if start is not None else None
        self._started = time.monotonic()

    def now(self) -> datetime:
        if self._start is None:
            return datetime.now(UTC) + self.offset
        return self._start + timedelta(seconds=time.monotonic() - self._started) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward; time never stands still, it only jumps."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        self.offset += delta


def system_clock(settings: ClockSettings) -> SystemClock:
    """Return the process's clock as the settings say (offset, and start in test mode)."""
    return SystemClock(settings.time_offset, settings.now)

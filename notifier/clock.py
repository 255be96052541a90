"""The clock the shell reads once per decision: system time plus an offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The system clock moved by ``offset``; in test mode ``advance`` moves it at run time."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward; time never stands still, it only jumps."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        self.offset += delta

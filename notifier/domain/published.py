"""What the daemon publishes for ``notifier status``: the scan, the rules, the last purge.

The store keeps each as JSON (``view()``), which other replicas and older processes read
too; ``from_view`` reads any of them back, an older daemon's scan state included (it had
neither streaks nor interval, and published only after a successful scan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from notifier.domain.health import Streak, instant
from notifier.domain.models import JSONValue

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ScanFigures:
    """The last good scan's figures; all None before one succeeded."""

    promises: int | None = None
    scheduled: int | None = None
    broken: int | None = None
    plan_errors: int | None = None
    seconds: float | None = None
    now: datetime | None = None

    def view(self) -> dict[str, JSONValue]:
        """Return the figures as JSON, those known only."""
        found: dict[str, JSONValue] = {
            "promises": self.promises, "scheduled": self.scheduled, "broken": self.broken,
            "plan_errors": self.plan_errors, "seconds": self.seconds,
            "now": self.now.isoformat() if self.now else None,
        }  # fmt: skip
        return {k: v for k, v in found.items() if v is not None}

    @classmethod
    def from_view(cls, data: Mapping[str, object]) -> ScanFigures:
        """Read published figures back; a malformed one reads as unknown."""
        return cls(_count(data.get("promises")), _count(data.get("scheduled")),
                   _count(data.get("broken")), _count(data.get("plan_errors")),
                   _number(data.get("seconds")), instant(data.get("now")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ScanHealth:
    """The daemon's failure streaks, its interval and its last successful scan."""

    interval: timedelta | None = None
    last_ok: datetime | None = None
    scan: Streak = field(default_factory=Streak)
    writes: Streak = field(default_factory=Streak)
    dispatch: Streak = field(default_factory=Streak)


@dataclass(frozen=True, slots=True)
class ScanState:
    """The scan state: figures, and the health (None from a daemon older than the streaks)."""

    figures: ScanFigures = field(default_factory=ScanFigures)
    health: ScanHealth | None = None

    def view(self) -> dict[str, JSONValue]:
        """Return the state as the JSON the daemon publishes."""
        found = self.figures.view()
        h = self.health
        if h is None:
            return found
        if h.interval is not None:
            found["interval_s"] = h.interval.total_seconds()
        found["last_ok"] = h.last_ok.isoformat() if h.last_ok else None
        found["health"] = {"scan": h.scan.view(), "writes": h.writes.view(),
                           "dispatch": h.dispatch.view()}  # fmt: skip
        return found

    @classmethod
    def from_view(cls, data: Mapping[str, object]) -> ScanState:
        """Read a published scan state back (``last_ok`` marks a daemon with streaks)."""
        figures = ScanFigures.from_view(data)
        if "last_ok" not in data:
            return cls(figures)
        seconds = _number(data.get("interval_s"))
        streaks = data.get("health")
        streaks = streaks if isinstance(streaks, Mapping) else {}
        health = ScanHealth(
            timedelta(seconds=seconds) if seconds is not None and seconds > 0 else None,
            instant(data.get("last_ok")), Streak.from_view(streaks.get("scan")),
            Streak.from_view(streaks.get("writes")), Streak.from_view(streaks.get("dispatch")),
        )  # fmt: skip
        return cls(figures, health)


@dataclass(frozen=True, slots=True)
class RulesState:
    """The rules' last load: in force (how many, with warnings) or refused (the problems)."""

    ok: bool = True
    rules: int | None = None  # how many are in force; None when refused
    problems: tuple[str, ...] = ()

    def view(self) -> dict[str, JSONValue]:
        """Return the state as the JSON the daemon publishes."""
        found: dict[str, JSONValue] = {"ok": self.ok}
        if self.rules is not None:
            found["rules"] = self.rules
        found["problems"] = list(self.problems)
        return found

    @classmethod
    def from_view(cls, data: Mapping[str, object]) -> RulesState:
        """Read a published rules state back."""
        ok = data.get("ok", True)
        problems = data.get("problems")
        listed = tuple(str(p) for p in problems) if isinstance(problems, list) else ()
        return cls(ok if isinstance(ok, bool) else True, _count(data.get("rules")), listed)


# The kinds of row a purge counts, as PurgeFigures names them (and the metric's label).
PURGED_KINDS = ("promises", "notifications", "scrubbed", "notification_events",
                "promise_events", "interactions")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PurgeFigures:
    """What a purge under NOTIFIER_RETENTION removed, by kind of row.

    ``scrubbed`` notifications were emptied (body, address, history) and kept as their
    dedupe key's tombstone; ``notifications`` were deleted, with their settled promise or
    as ops notices no scan plans again. ``complete`` is False when the run's batches ran
    out first: the next run goes on where it stopped.
    """

    promises: int = 0
    notifications: int = 0
    scrubbed: int = 0
    notification_events: int = 0
    promise_events: int = 0
    interactions: int = 0  # touchpoints whose text was erased
    batches: int = 0
    complete: bool = True

    def __add__(self, other: PurgeFigures) -> PurgeFigures:
        return PurgeFigures(
            self.promises + other.promises, self.notifications + other.notifications,
            self.scrubbed + other.scrubbed,
            self.notification_events + other.notification_events,
            self.promise_events + other.promise_events,
            self.interactions + other.interactions,
            self.batches + other.batches, self.complete and other.complete,
        )  # fmt: skip

    @property
    def rows(self) -> int:
        """How many rows were deleted or emptied in all."""
        return sum(getattr(self, k) for k in PURGED_KINDS)


@dataclass(frozen=True, slots=True)
class RetentionState:
    """The last purge: the retention in force, the instant it purged before, what it removed.

    ``retention`` None: NOTIFIER_RETENTION=off, nothing is purged.
    """

    retention: timedelta | None = None
    before: datetime | None = None
    figures: PurgeFigures = field(default_factory=PurgeFigures)
    seconds: float | None = None

    def view(self) -> dict[str, JSONValue]:
        """Return the state as the JSON the daemon publishes."""
        f = self.figures
        found: dict[str, JSONValue] = {k: getattr(f, k) for k in PURGED_KINDS}
        found |= {
            "retention_s": self.retention.total_seconds() if self.retention else None,
            "before": self.before.isoformat() if self.before else None,
            "batches": f.batches, "complete": f.complete, "seconds": self.seconds,
        }  # fmt: skip
        return found

    @classmethod
    def from_view(cls, data: Mapping[str, object]) -> RetentionState:
        """Read a published purge back; a malformed figure reads as 0."""
        n = {k: _count(data.get(k)) or 0 for k in (*PURGED_KINDS, "batches")}
        complete = data.get("complete", True)
        figures = PurgeFigures(
            n["promises"], n["notifications"], n["scrubbed"], n["notification_events"],
            n["promise_events"], n["interactions"], n["batches"],
            complete if isinstance(complete, bool) else True,
        )  # fmt: skip
        seconds = _number(data.get("retention_s"))
        retention = timedelta(seconds=seconds) if seconds is not None and seconds > 0 else None
        return cls(retention, instant(data.get("before")), figures, _number(data.get("seconds")))


@dataclass(frozen=True, slots=True)
class Published(Generic[T]):
    """A published fact and when it was published."""

    value: T
    at: datetime


@dataclass(frozen=True, slots=True)
class PublishedState:
    """Every fact published so far; None for one never published."""

    scan: Published[ScanState] | None = None
    rules: Published[RulesState] | None = None
    retention: Published[RetentionState] | None = None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value

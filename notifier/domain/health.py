"""Is the daemon doing its work? Failure streaks, readiness and the status verdict.

The daemon keeps one ``Streak`` per recurring job (the scan, the outcome writes, the
dispatcher's claims), publishes them with the scan state, and both ``/readyz`` and
``notifier status`` decide from them here, so the two never disagree on what counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.durations import format_duration
from notifier.domain.models import JSONValue

STALE_AFTER = 3  # scan intervals without a successful scan before the daemon looks stale
# A scan may legitimately run long on a big tick: call it stuck only past this, whatever
# the interval (a 1 s interval in tests would otherwise flag a busy machine's scan).
SCAN_STUCK_FLOOR = timedelta(seconds=30)
EXIT_OK = 0
EXIT_STALE = 3
EXIT_STUCK = 4
# When both hold, stale wins: a daemon that stopped also leaves rows behind, and the
# operator's first move is to bring it back.
_PRECEDENCE = (EXIT_STALE, EXIT_STUCK)


@dataclass(frozen=True, slots=True)
class Streak:
    """Consecutive failures of one recurring job, the last error, and the last success."""

    failures: int = 0
    error: str | None = None
    since: datetime | None = None  # the first failure of the current streak
    last_ok: datetime | None = None

    def failed(self, error: str, at: datetime) -> Streak:
        """Return the streak one failure longer."""
        return Streak(self.failures + 1, error, self.since or at, self.last_ok)

    def succeeded(self, at: datetime) -> Streak:
        """Return the streak ended by a success at ``at``."""
        return Streak(0, None, None, at)

    def view(self) -> dict[str, JSONValue]:
        """Return the streak as JSON (what the daemon publishes and /readyz shows)."""
        return {
            "failures": self.failures,
            "error": self.error,
            "since": self.since.isoformat() if self.since else None,
            "last_ok": self.last_ok.isoformat() if self.last_ok else None,
        }

    @classmethod
    def from_view(cls, data: object) -> Streak:
        """Read a published streak back; anything missing or malformed reads as no failure."""
        if not isinstance(data, Mapping):
            return cls()
        failures = data.get("failures")
        error = data.get("error")
        return cls(
            failures if isinstance(failures, int) and failures > 0 else 0,
            error if isinstance(error, str) else None,
            instant(data.get("since")),
            instant(data.get("last_ok")),
        )


def instant(value: object) -> datetime | None:
    """Return ``value`` as an aware instant (a datetime or ISO 8601 text); None otherwise."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def unready_reasons(
    *,
    database: str | None,
    scan: Streak,
    scan_running: timedelta | None,
    writes: Streak,
    interval: timedelta,
    max_scan_failures: int,
) -> list[str]:
    """Return why the daemon is not ready, one plain sentence each; empty when it is.

    ``database`` is None when the store answered, else why not; ``scan_running`` is how
    long the scan under way has run (a scan stuck on a silent database never fails).
    """
    reasons = []
    if database is not None:
        reasons.append(f"database: {database}")
    if scan.failures >= max_scan_failures:
        reasons.append(f"scan: failed on the {_last(scan.failures, 'tick')}: {scan.error}")
    limit = scan_stuck_after(interval, max_scan_failures)
    if scan_running is not None and scan_running > limit:
        reasons.append(f"scan: running for {_span(scan_running)} without an answer "
                       f"(the limit is {_span(limit)})")  # fmt: skip
    if writes.failures:
        reasons.append(
            f"writes: the {_last(writes.failures, 'outcome write')} failed: {writes.error}"
        )
    return reasons


def scan_stuck_after(interval: timedelta, max_scan_failures: int) -> timedelta:
    """Return how long a scan may run before it counts as stuck (never under the floor)."""
    return max(SCAN_STUCK_FLOOR, interval * max_scan_failures)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows left ``sending``: how many, when the oldest one was claimed, how many past lease.

    ``awaiting_lookup``: attempted rows no process holds, waiting for recovery to ask the
    provider whether it got them (a lookup failed, or throttled, and waits its backoff).
    """

    sending: int = 0
    oldest: datetime | None = None
    past_lease: int = 0
    awaiting_lookup: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing ``notifier status`` has to say; ``code`` is its exit code (0: a notice)."""

    code: int
    text: str


def assess(
    *,
    now: datetime,
    interval: timedelta,
    last_scan: datetime | None,
    scan: Streak,
    writes: Streak,
    dispatch: Streak,
    backlog: Backlog,
    plan_errors: int,
) -> list[Finding]:
    """Return what is wrong, worst first; ``last_scan`` is the last successful scan."""
    found = []
    if last_scan is None:
        found.append(Finding(EXIT_STALE, "no scan was ever published: is notifier run up?"))
    elif now - last_scan > interval * STALE_AFTER:
        found.append(Finding(EXIT_STALE, f"no scan for {_span(now - last_scan)} on a "
                             f"{_span(interval)} interval: the daemon looks stale"))  # fmt: skip
    if scan.failures:
        found.append(Finding(EXIT_OK, f"the scan failed on the "
                             f"{_last(scan.failures, 'tick')}: {scan.error}"))  # fmt: skip
    if backlog.past_lease:
        found.append(Finding(EXIT_STUCK, f"{_times(backlog.past_lease, 'notification')} "
                             "stuck in sending past the lease: a process died mid-send, "
                             "or recovery cannot resolve them"))  # fmt: skip
    if backlog.awaiting_lookup:
        found.append(Finding(EXIT_OK, f"{_times(backlog.awaiting_lookup, 'notification')} "
                             "waiting for a lookup at the provider after a crash: asked "
                             "again, then marked unknown with an alert to ops"))  # fmt: skip
    if writes.failures:
        row = _times(writes.failures, "time")
        found.append(Finding(EXIT_STUCK, f"outcome writes are failing ({row} in a row): "
                             f"{writes.error}"))  # fmt: skip
    if dispatch.failures:
        row = _times(dispatch.failures, "time")
        found.append(Finding(EXIT_OK, f"the dispatcher failed {row} in a row: "
                             f"{dispatch.error}"))  # fmt: skip
    if plan_errors:
        found.append(Finding(EXIT_STUCK, f"{_times(plan_errors, 'promise')} in plan error: "
                             "the rules cannot plan them"))  # fmt: skip
    return sorted(found, key=_rank)


def exit_code(findings: list[Finding]) -> int:
    """Return the exit code the findings call for: stale, then stuck, then 0."""
    codes = {f.code for f in findings}
    return next((c for c in _PRECEDENCE if c in codes), EXIT_OK)


def _rank(f: Finding) -> int:
    return _PRECEDENCE.index(f.code) if f.code in _PRECEDENCE else len(_PRECEDENCE)


def _times(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _last(count: int, noun: str) -> str:
    return f"last {noun}" if count == 1 else f"last {count} {noun}s"


def _span(value: timedelta) -> str:
    return format_duration(timedelta(seconds=int(value.total_seconds())))

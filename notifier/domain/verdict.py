"""What ``notifier status`` concludes from a report: the findings, the exit code, the timing.

The daemon's own interval and last successful scan come from the published scan state;
a daemon older than the streaks published only after a successful scan, so its last
scan is when it published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain.health import Finding, Streak, assess, exit_code
from notifier.domain.published import Published, ScanState
from notifier.domain.reports import StatusReport


@dataclass(frozen=True, slots=True)
class Verdict:
    """The findings worst first, the exit code they call for, and the scan's timing."""

    findings: Sequence[Finding]
    exit_code: int
    interval: timedelta  # the daemon's (published), else this machine's setting
    last_scan: datetime | None  # the last successful scan
    last_scan_age: timedelta | None


def judge(report: StatusReport, default_interval: timedelta) -> Verdict:
    """Return the verdict on ``report``; listed plan errors mean work is stuck."""
    scan = report.published.scan
    health = scan.value.health if scan else None
    interval = health.interval if health and health.interval else default_interval
    last_scan = last_successful_scan(scan)
    findings = assess(
        now=report.now, interval=interval, last_scan=last_scan,
        scan=health.scan if health else Streak(), writes=health.writes if health else Streak(),
        dispatch=health.dispatch if health else Streak(), backlog=report.sending,
        plan_errors=len(report.plan_errors),
    )  # fmt: skip
    age = report.now - last_scan if last_scan else None
    return Verdict(findings, exit_code(findings), interval, last_scan, age)


def last_successful_scan(scan: Published[ScanState] | None) -> datetime | None:
    """The last successful scan; a daemon older than the streaks published only after one."""
    if scan is None:
        return None
    health = scan.value.health
    return scan.at if health is None else health.last_ok

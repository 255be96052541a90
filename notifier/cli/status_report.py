"""``notifier status`` as a monitoring check: the verdict and its exit code, the health lines.

The daemon publishes its failure streaks with the scan state; this reads them back and
lets ``notifier.domain.health.assess`` decide, so a check from any machine that reaches
the database sees what ``/readyz`` sees, plus what only the database knows (rows stuck
in ``sending``, a daemon that stopped publishing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from notifier.domain.durations import format_duration
from notifier.domain.health import (
    EXIT_STALE,
    EXIT_STUCK,
    Backlog,
    Finding,
    Streak,
    assess,
    exit_code,
)

VERDICTS = {0: "ok", EXIT_STALE: "stale", EXIT_STUCK: "stuck"}


def sending_view(backlog: Backlog, now: datetime) -> dict[str, Any]:
    """The ``sending`` part of the report: how many, the oldest one's age, past their lease."""
    age = (now - backlog.oldest).total_seconds() if backlog.oldest else None
    return {"count": backlog.sending, "oldest": backlog.oldest,
            "oldest_age_s": max(0.0, age) if age is not None else None,
            "past_lease": backlog.past_lease}  # fmt: skip


def health_view(report: dict[str, Any], default_interval: timedelta) -> dict[str, Any]:
    """Decide from ``report``: the interval, the last scan's age, findings and exit code.

    ``plan_errors`` (promises the rules cannot plan), when the report lists any, means
    work is stuck.
    """
    now: datetime = report["now"]
    scan = report.get("scan") or {}
    interval = _interval(scan, default_interval)
    last_scan = _last_scan(scan)
    streaks = scan.get("health") or {}
    sending = report.get("sending") or {}
    findings = assess(
        now=now, interval=interval, last_scan=last_scan,
        scan=Streak.from_view(streaks.get("scan")), writes=Streak.from_view(streaks.get("writes")),
        dispatch=Streak.from_view(streaks.get("dispatch")),
        backlog=Backlog(sending.get("count", 0), sending.get("oldest"),
                        sending.get("past_lease", 0)),
        plan_errors=len(report.get("plan_errors") or []),
    )  # fmt: skip
    code = exit_code(findings)
    return {
        "status": VERDICTS[code], "exit_code": code,
        "findings": [{"code": f.code, "text": f.text} for f in findings],
        "scan_interval_s": interval.total_seconds(), "last_scan": last_scan,
        "last_scan_age_s": (now - last_scan).total_seconds() if last_scan else None,
    }  # fmt: skip


def verdict_lines(health: dict[str, Any]) -> list[str]:
    """The first lines of the text output: the verdict, then each finding."""
    findings = [Finding(f["code"], f["text"]) for f in health["findings"]]
    if not findings:
        return ["ok: the daemon scans on time and nothing is stuck"]
    return [f"{VERDICTS.get(f.code, 'note')}: {f.text}" if f.code else f"note: {f.text}"
            for f in findings]  # fmt: skip


def streak_line(label: str, data: object, now: datetime) -> str:
    """``scan errors: none`` or how many tries failed in a row, since when, and the error."""
    streak = Streak.from_view(data)
    if not streak.failures:
        return f"{label}: none"
    times = "1 failure" if streak.failures == 1 else f"{streak.failures} failures in a row"
    since = f", the first {ago(streak.since, now)}" if streak.since else ""
    return f"{label}: {times}{since}: {streak.error}"


def queue_line(
    pending: int, oldest_pending: datetime | None, sending: dict[str, Any], now: datetime
) -> str:
    """``queue: 4 pending, oldest due 2m ago; 2 sending, the oldest claimed 5s ago``."""
    waiting = f", oldest due {ago(oldest_pending, now)}" if oldest_pending else ""
    flying = f"{sending['count']} sending" if sending["count"] else "none sending"
    if sending["count"]:
        flying += f", the oldest claimed {ago(sending['oldest'], now)}"
        flying += f", {sending['past_lease']} past the lease" if sending["past_lease"] else ""
    return f"queue: {pending} pending{waiting}; {flying}"


def scan_lines(fact: dict[str, Any] | None, health: dict[str, Any], now: datetime) -> list[str]:
    """The last scan against its interval, then the scan's and the dispatcher's errors."""
    if fact is None:
        return ["last scan: never published (is notifier run up?)"]
    every = f"every {span(health['scan_interval_s'])}"
    if health["last_scan"] is None:
        lines = [f"last scan: none succeeded since the daemon started ({every})"]
    else:
        figures = ", ".join(f"{fact[k]} {k}" for k in ("promises", "scheduled", "broken")
                            if k in fact)  # fmt: skip
        took = f", took {fact['seconds']}s" if "seconds" in fact else ""
        lines = [f"last scan: {ago(health['last_scan'], now)} ({every}): {figures}{took}"]
    streaks = fact.get("health") or {}
    return [
        *lines,
        streak_line("scan errors", streaks.get("scan"), now),
        streak_line("outcome write errors", streaks.get("writes"), now),
        streak_line("dispatch errors", streaks.get("dispatch"), now),
    ]


def rules_lines(fact: dict[str, Any] | None, now: datetime) -> list[str]:
    """The rules in force, or the refused files' problems (the last good set serves)."""
    if fact is None:
        return ["rules: never published (is notifier run up?)"]
    if fact.get("ok", True):
        head = f"rules: {fact.get('rules', '?')} rules in force, loaded {ago(fact['at'], now)}"
    else:
        head = (f"rules: the files on disk were refused {ago(fact['at'], now)}; "
                "the last good set serves:")  # fmt: skip
    return [head, *(f"  {p}" for p in fact.get("problems") or [])]


def ago(at: datetime | None, now: datetime) -> str:
    """``5m ago``, ``in 2h``, or ``-`` for no instant."""
    if at is None:
        return "-"
    delta = now - at
    if delta >= timedelta(0):
        return f"{format_duration(timedelta(seconds=int(delta.total_seconds())))} ago"
    return f"in {format_duration(timedelta(seconds=int(-delta.total_seconds())))}"


def _interval(scan: dict[str, Any], default: timedelta) -> timedelta:
    """The interval the daemon published (it may differ from this machine's settings)."""
    seconds = scan.get("interval_s")
    if isinstance(seconds, int | float) and seconds > 0:
        return timedelta(seconds=seconds)
    return default


def _last_scan(scan: dict[str, Any]) -> datetime | None:
    """The last successful scan; a daemon older than the streaks published only after one."""
    if not scan:
        return None
    if "last_ok" not in scan:
        at = scan.get("at")
        return at if isinstance(at, datetime) else None
    return Streak.from_view({"last_ok": scan["last_ok"]}).last_ok


def span(seconds: float) -> str:
    """``90`` -> ``1m30s`` (a negative span, from a clock behind the daemon's, reads 0s)."""
    return format_duration(timedelta(seconds=max(0, int(seconds))))

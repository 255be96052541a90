"""``notifier status`` as a monitoring check: the verdict, its exit code, the JSON and text.

The daemon publishes its failure streaks with the scan state; the engine reads them back
and ``notifier.domain.verdict.judge`` decides, so a check from any machine that reaches
the database sees what ``/readyz`` sees, plus what only the database knows (rows stuck
in ``sending``, a daemon that stopped publishing).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from notifier.domain.durations import format_duration
from notifier.domain.health import EXIT_STALE, EXIT_STUCK, Backlog, Streak
from notifier.domain.models import NotificationStatus
from notifier.domain.published import Published, RetentionState, RulesState, ScanHealth, ScanState
from notifier.domain.reports import StatusReport
from notifier.domain.verdict import Verdict

VERDICTS = {0: "ok", EXIT_STALE: "stale", EXIT_STUCK: "stuck"}


def sending_view(backlog: Backlog, now: datetime) -> dict[str, Any]:
    """The ``sending`` part of the report: how many, the oldest one's age, past their lease."""
    age = (now - backlog.oldest).total_seconds() if backlog.oldest else None
    return {"count": backlog.sending, "oldest": backlog.oldest,
            "oldest_age_s": max(0.0, age) if age is not None else None,
            "past_lease": backlog.past_lease,
            "awaiting_lookup": backlog.awaiting_lookup}  # fmt: skip


def health_view(verdict: Verdict) -> dict[str, Any]:
    """The ``health`` part of the report: the verdict, its exit code, findings, the timing."""
    age = verdict.last_scan_age
    return {
        "status": VERDICTS[verdict.exit_code], "exit_code": verdict.exit_code,
        "findings": [{"code": f.code, "text": f.text} for f in verdict.findings],
        "scan_interval_s": verdict.interval.total_seconds(), "last_scan": verdict.last_scan,
        "last_scan_age_s": age.total_seconds() if age is not None else None,
    }  # fmt: skip


def status_view(report: StatusReport) -> dict[str, Any]:
    """The ``notifier status --json`` report, less its ``health`` (see ``health_view``)."""
    now, queue, published = report.now, report.queue, report.published
    oldest = queue.oldest_pending
    age = (now - oldest).total_seconds() if oldest is not None and oldest < now else 0
    return {
        "now": now, "pending": queue.count(NotificationStatus.PENDING.value),
        "counts": dict(queue.counts), "oldest_pending": oldest, "oldest_pending_age_s": age,
        "sending": sending_view(report.sending, now),
        "scan": {**published.scan.value.view(), "at": published.scan.at}
        if published.scan else None,
        "rules": {**published.rules.value.view(), "at": published.rules.at}
        if published.rules else None,
        "retention": {**published.retention.value.view(), "at": published.retention.at}
        if published.retention else None,
        "paused": [asdict(p) for p in report.paused], "down": [asdict(p) for p in report.down],
        "last_errors": [asdict(e) for e in report.last_errors],
        "plan_error_count": report.plan_error_count,
        "plan_errors": [asdict(p) for p in report.plan_errors],
        "render_errors": [asdict(e) for e in report.render_errors],
        "events": events_view(report),
    }  # fmt: skip


def events_view(report: StatusReport) -> dict[str, Any]:
    """The outbound events not delivered yet: how many, the oldest one's age, parked."""
    e, now = report.events, report.now
    age = max(0.0, (now - e.oldest).total_seconds()) if e.oldest else None
    return {"pending": e.pending, "oldest": e.oldest, "oldest_age_s": age, "parked": e.parked}


def status_lines(r: StatusReport, verdict: Verdict) -> list[str]:
    """The text of ``notifier status``: the verdict, queue, scan, rules, pauses, errors."""
    now = r.now
    sending = sending_view(r.sending, now)
    pending = r.queue.count(NotificationStatus.PENDING.value)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(r.queue.counts.items())) or "no notifications"
    lines = [
        *verdict_lines(verdict), queue_line(pending, r.queue.oldest_pending, sending, now),
        f"by status: {counts}", *scan_lines(r.published.scan, verdict, now),
        *rules_lines(r.published.rules, now), retention_line(r.published.retention, now),
    ]  # fmt: skip
    if not r.paused and not r.down:
        lines.append("paused: nothing")
    for p in [*r.paused, *r.down]:
        what = "down: channel" if p.kind == "down" else f"paused: {p.kind}"
        lines.append(f"{what} {p.target} since {ago(p.created_at, now)}: {p.reason}")
    if r.last_errors:
        lines.append("last errors:")
    for e in r.last_errors:
        lines.append(f"  {when(e.at)}  notification {e.notification_id}  {e.type} "
                     f"{e.channel or ''}: {e.reason}")  # fmt: skip
    return [*lines, *_poison_lines(r), *_events_lines(r)]


def _events_lines(r: StatusReport) -> list[str]:
    """The CRM's events waiting, when any are (NOTIFIER_EVENTS_URL)."""
    e = r.events
    if not e.pending and not e.parked:
        return []
    oldest = f", the oldest written {ago(e.oldest, r.now)}" if e.oldest else ""
    parked = (f"; {e.parked} parked (refused by the receiver: 'notifier events requeue')"
              if e.parked else "")  # fmt: skip
    return [f"events: {e.pending} pending{oldest}{parked}"]


def _poison_lines(r: StatusReport) -> list[str]:
    """The promises the scan cannot plan and the messages that could not be rendered."""
    now, count = r.now, r.plan_error_count
    lines = [f"plan errors: {count} promise(s) the rules cannot plan" if count
             else "plan errors: none"]  # fmt: skip
    for p in r.plan_errors:
        lines.append(f"  promise {p.id} (customer {p.customer_id}, {p.kind}) since "
                     f"{ago(p.since, now)}, {p.failures} failure(s), next try "
                     f"{ago(p.next_check_at, now)}: {p.reason}")  # fmt: skip
    if count > len(r.plan_errors):
        lines.append(f"  ... and {count - len(r.plan_errors)} more")
    if r.render_errors:
        lines.append("render errors:")
    for e in r.render_errors:
        lines.append(f"  {when(e.at)}  notification {e.notification_id}  {e.message} "
                     f"{e.channel or ''}: {e.reason}")  # fmt: skip
    return lines


def verdict_lines(verdict: Verdict) -> list[str]:
    """The first lines of the text output: the verdict, then each finding."""
    findings = verdict.findings
    if not findings:
        return ["ok: the daemon scans on time and nothing is stuck"]
    return [f"{VERDICTS.get(f.code, 'note')}: {f.text}" if f.code else f"note: {f.text}"
            for f in findings]  # fmt: skip


def streak_line(label: str, streak: Streak, now: datetime) -> str:
    """``scan errors: none`` or how many tries failed in a row, since when, and the error."""
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
        lookups = sending.get("awaiting_lookup", 0)
        flying += f", {lookups} waiting for a lookup" if lookups else ""
    return f"queue: {pending} pending{waiting}; {flying}"


def scan_lines(fact: Published[ScanState] | None, verdict: Verdict, now: datetime) -> list[str]:
    """The last scan against its interval, then the scan's and the dispatcher's errors."""
    if fact is None:
        return ["last scan: never published (is notifier run up?)"]
    every = f"every {span(verdict.interval.total_seconds())}"
    if verdict.last_scan is None:
        lines = [f"last scan: none succeeded since the daemon started ({every})"]
    else:
        shown = fact.value.figures.view()
        figures = ", ".join(f"{shown[k]} {k}" for k in ("promises", "scheduled", "broken")
                            if k in shown)  # fmt: skip
        took = f", took {shown['seconds']}s" if "seconds" in shown else ""
        lines = [f"last scan: {ago(verdict.last_scan, now)} ({every}): {figures}{took}"]
    streaks = fact.value.health or ScanHealth()
    return [
        *lines,
        streak_line("scan errors", streaks.scan, now),
        streak_line("outcome write errors", streaks.writes, now),
        streak_line("dispatch errors", streaks.dispatch, now),
    ]


def rules_lines(fact: Published[RulesState] | None, now: datetime) -> list[str]:
    """The rules in force, or the refused files' problems (the last good set serves)."""
    if fact is None:
        return ["rules: never published (is notifier run up?)"]
    rules = fact.value
    if rules.ok:
        count = "?" if rules.rules is None else rules.rules
        head = f"rules: {count} rules in force, loaded {ago(fact.at, now)}"
    else:
        head = (f"rules: the files on disk were refused {ago(fact.at, now)}; "
                "the last good set serves:")  # fmt: skip
    return [head, *(f"  {p}" for p in rules.problems)]


def retention_line(fact: Published[RetentionState] | None, now: datetime) -> str:
    """When the last purge ran, what it removed, and whether a backlog is left."""
    if fact is None:
        return "last purge: never published (is notifier run up?)"
    state = fact.value
    if state.retention is None:
        return f"last purge: none, NOTIFIER_RETENTION=off (checked {ago(fact.at, now)})"
    f = state.figures
    removed = (f"{f.promises} promises, {f.notifications} notifications deleted; "
               f"{f.scrubbed} emptied; {f.notification_events + f.promise_events} history "
               f"events; {f.interactions} touchpoint texts")  # fmt: skip
    left = "" if f.complete else " (more left: the next runs go on)"
    keep = format_duration(state.retention)
    return f"last purge: {ago(fact.at, now)}, older than {keep}: {removed}{left}"


def ago(at: datetime | None, now: datetime) -> str:
    """``5m ago``, ``in 2h``, or ``-`` for no instant."""
    if at is None:
        return "-"
    delta = now - at
    if delta >= timedelta(0):
        return f"{format_duration(timedelta(seconds=int(delta.total_seconds())))} ago"
    return f"in {format_duration(timedelta(seconds=int(-delta.total_seconds())))}"


def when(value: object) -> str:
    """An instant to the second (``2026-11-24T15:00:00+00:00``), or ``-`` for none."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value or "-")


def span(seconds: float) -> str:
    """``90`` -> ``1m30s`` (a negative span, from a clock behind the daemon's, reads 0s)."""
    return format_duration(timedelta(seconds=max(0, int(seconds))))

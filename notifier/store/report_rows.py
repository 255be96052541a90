"""Rows to the values ops read back: pauses, failed attempts, history, published facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from notifier.domain.published import (
    Published,
    PublishedState,
    RetentionState,
    RulesState,
    ScanState,
)
from notifier.domain.reports import (
    ErrorLine,
    HistoryEntry,
    NotificationRecord,
    Pause,
    PlanErrorLine,
    RenderErrorLine,
)
from notifier.store.claims import to_notification
from notifier.store.convert import to_plan_error


def to_pause(row: Mapping[Any, Any]) -> Pause:
    """Return the pause of a ``pauses`` row."""
    return Pause(row["id"], row["kind"], row["target"], row["reason"], row["created_at"],
                 row["until"])  # fmt: skip


def to_error_line(row: Mapping[Any, Any]) -> ErrorLine:
    """Return the failed attempt of a ``notification_events`` row."""
    return ErrorLine(row["id"], row["notification_id"], row["at"], row["type"], row["channel"],
                     row["reason"], dict(row["detail"] or {}))  # fmt: skip


def to_history_entry(row: Mapping[Any, Any]) -> HistoryEntry:
    """Return the history line of a ``notification_events`` row."""
    return HistoryEntry(row["at"], row["type"], row["channel"], row["reason"],
                        dict(row["detail"] or {}))  # fmt: skip


def to_plan_error_line(row: Mapping[Any, Any]) -> PlanErrorLine:
    """Return the plan error of a promise row (id, customer, kind, the error's columns)."""
    error = to_plan_error(row["plan_errors"], row["plan_error"])
    return PlanErrorLine(
        row["id"], row["customer_id"], row["kind"], error.rule if error else None,
        error.reason if error else None, error.since if error else None, row["plan_errors"],
        row["next_check_at"],
    )  # fmt: skip


def to_render_error_line(row: Mapping[Any, Any]) -> RenderErrorLine:
    """Return the render failure of an event row joined with its notification."""
    return RenderErrorLine(row["at"], row["notification_id"], row["customer_id"], row["message"],
                           row["channel"], row["reason"])  # fmt: skip


def to_record(row: Mapping[Any, Any]) -> NotificationRecord:
    """Return the record of a ``notifications`` row."""
    return NotificationRecord(
        to_notification(row),
        row["error_code"],
        row["error"],
        row["sent_at"],
        row["delivered_at"],
        row["updated_at"],
        row.get("purged_at"),
    )


def to_published(rows: Iterable[Mapping[Any, Any]]) -> PublishedState:
    """Return the facts of the ``daemon_state`` rows (keys this version does not know: skipped)."""
    scan: Published[ScanState] | None = None
    rules: Published[RulesState] | None = None
    retention: Published[RetentionState] | None = None
    for r in rows:
        value = r["value"] if isinstance(r["value"], Mapping) else {}
        if r["key"] == "scan":
            scan = Published(ScanState.from_view(value), r["updated_at"])
        elif r["key"] == "rules":
            rules = Published(RulesState.from_view(value), r["updated_at"])
        elif r["key"] == "retention":
            retention = Published(RetentionState.from_view(value), r["updated_at"])
    return PublishedState(scan, rules, retention)

"""Rows to domain values: nothing outside ``store/`` sees a row."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Table

from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    Customer,
    CustomerId,
    PlanError,
    Promise,
    PromiseEvent,
    PromiseEventType,
    PromiseId,
    PromiseStatus,
    Source,
)
from notifier.domain.outbox import PromiseChange
from notifier.store.tables import (
    CrisisDetectionRow,
    CustomerRow,
    EventOutboxRow,
    EventSequenceRow,
    IncidentCustomerRow,
    IncidentDetectionRow,
    IncidentReplyRow,
    IncidentRow,
    IncidentUpdateRow,
    InteractionRow,
    NotificationEventRow,
    NotificationRow,
    PromiseEventRow,
    PromiseRow,
)

customers = cast(Table, CustomerRow.__table__)  # type: ignore[attr-defined]
interactions = cast(Table, InteractionRow.__table__)  # type: ignore[attr-defined]
incidents = cast(Table, IncidentRow.__table__)  # type: ignore[attr-defined]
incident_updates = cast(Table, IncidentUpdateRow.__table__)  # type: ignore[attr-defined]
incident_customers = cast(Table, IncidentCustomerRow.__table__)  # type: ignore[attr-defined]
incident_replies = cast(Table, IncidentReplyRow.__table__)  # type: ignore[attr-defined]
promises = cast(Table, PromiseRow.__table__)  # type: ignore[attr-defined]
promise_events = cast(Table, PromiseEventRow.__table__)  # type: ignore[attr-defined]
notifications = cast(Table, NotificationRow.__table__)  # type: ignore[attr-defined]
notification_events = cast(Table, NotificationEventRow.__table__)  # type: ignore[attr-defined]
event_outbox = cast(Table, EventOutboxRow.__table__)  # type: ignore[attr-defined]
event_sequences = cast(Table, EventSequenceRow.__table__)  # type: ignore[attr-defined]
crisis_detections = cast(Table, CrisisDetectionRow.__table__)  # type: ignore[attr-defined]
incident_detections = cast(Table, IncidentDetectionRow.__table__)  # type: ignore[attr-defined]


log = structlog.get_logger("notifier.store")
K = TypeVar("K")
V = TypeVar("V")


def converted(
    rows: Iterable[Mapping[Any, Any]],
    convert: Callable[[Mapping[Any, Any]], V],
    unreadable: dict[K, str] | None = None,
) -> dict[K, V]:
    """Return ``convert`` of each row by its id; a row that will not convert is left out.

    One hand-made row with a value no version writes must not fail the batch it came in:
    why it was left out goes into ``unreadable`` (and the log) under its id.
    """
    found: dict[K, V] = {}
    for row in rows:
        try:
            found[row["id"]] = convert(row)
        except Exception as exc:
            reason = f"the row cannot be read: {type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("store.unreadable_row", table=convert.__name__, id=row["id"], error=reason)
            if unreadable is not None:
                unreadable[row["id"]] = reason
    return found


def _channel(value: object) -> ChannelName | None:
    return value if value in CHANNELS else None


def to_customer(row: Mapping[Any, Any]) -> Customer:
    """Return the domain customer for a ``customers`` row."""
    undeliverable = {
        cast(ChannelName, k): str(v)
        for k, v in (row["undeliverable"] or {}).items()
        if k in CHANNELS
    }
    return Customer(
        id=CustomerId(row["id"]),
        name=row["name"],
        locale=row["locale"],
        timezone=row["timezone"],
        phone=row["phone"],
        email=row["email"],
        whatsapp=row["whatsapp"],
        x_user_id=row["x_user_id"],
        preferred_channel=_channel(row["preferred_channel"]),
        opted_out=frozenset(cast(ChannelName, c) for c in row["opted_out"] or [] if c in CHANNELS),
        undeliverable=undeliverable,
        last_used_channel=_channel(row["last_used_channel"]),
        last_whatsapp_inbound_at=row["last_whatsapp_inbound_at"],
        forgotten=row["forgotten_at"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        country=row["country"],
    )


_STATUSES = {s.value: s for s in PromiseStatus}


def to_promise(row: Mapping[Any, Any]) -> Promise:
    """Return the domain promise for a ``promises`` row."""
    return Promise(
        id=PromiseId(row["id"]),
        customer_id=CustomerId(row["customer_id"]),
        kind=row["kind"],
        status=_STATUSES[row["status"]],
        due_at=row["due_at"],
        window_start=row["window_start"],
        estimate_at=row["estimate_at"],
        external_ref=row["external_ref"],
        attributes=dict(row["attributes"] or {}),
        deadline_version=row["deadline_version"],
        times_broken=row["times_broken"],
        next_check_at=row["next_check_at"],
        status_changed_at=row["status_changed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        plan_error=to_plan_error(row.get("plan_errors"), row.get("plan_error")),
    )


def to_plan_error(count: object, state: object) -> PlanError | None:
    """Return the plan-error state of a promise row, or None when it plans fine."""
    if not isinstance(count, int) or count <= 0 or not isinstance(state, dict):
        return None
    since = state.get("since")
    return PlanError(
        rule=str(state["rule"]) if state.get("rule") else None,
        reason=str(state.get("reason", "")),
        count=count,
        since=datetime.fromisoformat(since)
        if isinstance(since, str)
        else datetime.min.replace(tzinfo=UTC),
    )


def plan_error_json(error: PlanError | None) -> dict[str, Any] | None:
    """Return the ``plan_error`` column's value for ``error``."""
    if error is None:
        return None
    return {"rule": error.rule, "reason": error.reason, "since": error.since.isoformat()}


def plan_error_data(c: PromiseChange) -> dict[str, Any]:
    """Return a ``plan_error`` event's data: the rule at fault, why, and the next try."""
    assert c.error is not None
    return {
        "rule": c.error.rule,
        "reason": c.error.reason,
        "failures": c.error.count,
        "next_check_at": c.next_check_at.isoformat() if c.next_check_at else None,
    }


def to_promise_event(row: Mapping[Any, Any]) -> PromiseEvent:
    """Return the domain event for a ``promise_events`` row."""
    return PromiseEvent(
        promise_id=PromiseId(row["promise_id"]),
        type=PromiseEventType(row["type"]),
        at=row["at"],
        source=Source(row["source"]),
        deadline_version=row["deadline_version"],
        data=dict(row["data"] or {}),
    )

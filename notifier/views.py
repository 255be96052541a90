"""The JSON shapes of the ledger, the same for the API and the CLI's ``--json``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from notifier.domain.ingest import ForgetReport, TimelineEntry
from notifier.domain.models import CHANNELS, Customer, Promise, PromiseEvent


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_view(c: Customer) -> dict[str, Any]:
    """Return the customer as the API shows it, with the last used channel."""
    return {
        "id": c.id,
        "name": c.name,
        "locale": c.locale,
        "timezone": c.timezone,
        "phone": c.phone,
        "email": c.email,
        "whatsapp": c.whatsapp,
        "x_user_id": c.x_user_id,
        "preferred_channel": c.preferred_channel,
        "last_used_channel": c.last_used_channel,
        "consent": {ch: c.has_consent(ch) for ch in CHANNELS},
        "undeliverable": dict(c.undeliverable),
        "forgotten": c.forgotten,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }


def promise_view(p: Promise) -> dict[str, Any]:
    """Return the promise as the API shows it."""
    return {
        "id": p.id,
        "customer_id": p.customer_id,
        "kind": p.kind,
        "status": p.status.value,
        "due_at": _iso(p.due_at),
        "window_start": _iso(p.window_start),
        "estimate_at": _iso(p.estimate_at),
        "external_ref": p.external_ref,
        "attributes": dict(p.attributes),
        "deadline_version": p.deadline_version,
        "times_broken": p.times_broken,
        "next_check_at": _iso(p.next_check_at),
        "status_changed_at": _iso(p.status_changed_at),
        "created_at": _iso(p.created_at),
        "updated_at": _iso(p.updated_at),
    }


def event_view(e: PromiseEvent) -> dict[str, Any]:
    """Return one promise event."""
    return {
        "type": e.type.value,
        "at": _iso(e.at),
        "source": e.source.value,
        "deadline_version": e.deadline_version,
        "data": dict(e.data),
    }


def timeline_view(entries: list[TimelineEntry]) -> list[dict[str, Any]]:
    """Return the timeline entries, newest first."""
    return [
        {
            "at": _iso(e.at),
            "type": e.type,
            "summary": e.summary,
            "promise_id": e.promise_id,
            "notification_id": e.notification_id,
            "data": dict(e.data),
        }
        for e in entries
    ]


def forget_view(report: ForgetReport) -> dict[str, Any]:
    """Return what forgetting a customer erased."""
    return {"forgotten": True, **asdict(report)}

"""The JSON shapes of the ledger, the same for the API and the CLI's ``--json``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from notifier.domain.forecast import Forecast
from notifier.domain.ingest import ForgetReport, TimelineEntry
from notifier.domain.models import CHANNELS, Customer, Promise, PromiseEvent
from notifier.domain.reports import NotificationDetail, NotificationRecord


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_view(c: Customer) -> dict[str, Any]:
    """Return the customer as the API shows it, with the last used channel."""
    return {
        "id": c.id,
        "name": c.name,
        "locale": c.locale,
        "timezone": c.timezone,
        "country": c.home_country,
        "country_inferred": c.country is None and c.home_country is not None,
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


def notification_line_view(r: NotificationRecord) -> dict[str, Any]:
    """Return one notification as ``notification list`` and ``GET /v1/notifications`` show it."""
    n = r.notification
    return {
        "id": n.id,
        "customer_id": n.customer_id,
        "promise_id": n.promise_id,
        "rule_id": n.rule_id,
        "stage": n.stage,
        "step": n.step,
        "message": n.message,
        "audience": n.audience,
        "priority": n.priority,
        "status": n.status.value,
        "channel": n.channel,
        "not_before": _iso(n.not_before),
        "attempts": n.attempts,
        "sent_at": _iso(r.sent_at),
        "delivered_at": _iso(r.delivered_at),
        "error": r.error,
        "created_at": _iso(n.created_at),
        "updated_at": _iso(r.updated_at),
    }


def notification_view(detail: NotificationDetail) -> dict[str, Any]:
    """Return a notification with its whole history: why it was scheduled, routed, sent."""
    r = detail.record
    n = r.notification
    return {
        **notification_line_view(r),
        "dedupe_key": n.dedupe_key,
        "channel_choice": n.channel_choice,
        "fallback": list(n.fallback),
        "failed_channels": sorted(n.failed_channels),
        "address": n.address,
        "subject": n.subject,
        "body": n.body,
        "provider_id": n.provider_id,
        "error_code": r.error_code,
        "folded_into": n.folded_into,
        "members": list(n.members),
        "purged_at": _iso(r.purged_at),
        "history": [
            {
                "at": _iso(e.at),
                "type": e.type,
                "channel": e.channel,
                "reason": e.reason,
                "detail": dict(e.detail),
            }
            for e in detail.history
        ],
    }


def forecast_view(f: Forecast) -> dict[str, Any]:
    """Return what ``notifier simulate`` predicts: the sends in order, and what would not go."""
    return {
        "sends": [
            {**asdict(s), "at": _iso(s.at), "members": list(s.members), "reasons": list(s.reasons)}
            for s in f.sends
        ],
        "withheld": [{**asdict(w), "at": _iso(w.at)} for w in f.withheld],
    }

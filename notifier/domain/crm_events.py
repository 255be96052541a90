"""Outbound events for the CRM: their body, their signature, and what an answer means.

Every notification status change and every promise state change becomes one event, posted
as JSON to NOTIFIER_EVENTS_URL and signed (docs/operations.md, "Outbound events"). The
body carries ids and codes only: no message text, no address, no name, no free-text
error (a provider's error quotes the address), so a pending event holds nothing
``notifier forget`` would have to erase.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from notifier.domain.models import JSONValue

SIGNATURE_HEADER = "X-Notifier-Signature"
# A receiver rejects a signature older than this: a replayed request carries its old t.
REPLAY_WINDOW = timedelta(minutes=5)

NOTIFICATION_CHANGED = "notification.status_changed"
PROMISE_CHANGED = "promise.status_changed"
# The promise history lines that change its state (an attribute edit or a plan error
# does not).
PROMISE_CHANGES = frozenset({"created", "kept", "cancelled", "broken", "rescheduled"})


@dataclass(frozen=True, slots=True)
class PromiseFacts:
    id: int
    external_ref: str
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class NotificationFacts:
    id: int
    channel: str | None
    status: str
    message: str  # the template's name (delivery_late...), never its text
    provider_message_id: str | None
    reason: str | None  # a short code (invalid_address, render_error...), never free text


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before its stream has numbered it."""

    stream: str
    type: str
    customer_id: str | None
    promise: PromiseFacts | None
    notification: NotificationFacts | None = None
    change: str | None = None  # the promise history line (created, kept, broken...)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event the relay is to post: its body exactly as it is signed and sent."""

    id: int
    key: str
    stream: str
    sequence: int
    body: str
    attempts: int


def stream_of(promise_id: int | None, customer_id: str | None) -> str | None:
    """The stream an event is ordered in: its promise's, else its customer's; None: no event."""
    if promise_id is not None:
        return f"promise:{promise_id}"
    if customer_id is not None:
        return f"customer:{customer_id}"
    return None


def event_body(draft: Draft, key: str, sequence: int, occurred_at: datetime) -> str:
    """Return the JSON body of ``draft``, numbered ``sequence`` in its stream."""
    body: dict[str, JSONValue] = {
        "id": key,
        "type": draft.type,
        "occurred_at": occurred_at.isoformat(),
        "sequence": sequence,
        "stream": draft.stream,
        "customer": None if draft.customer_id is None else {"id": draft.customer_id},
        "promise": None if draft.promise is None else _promise(draft.promise),
    }
    if draft.change is not None:
        body["change"] = draft.change
    if draft.notification is not None:
        n = draft.notification
        body["notification"] = {
            "id": n.id, "channel": n.channel, "status": n.status, "message": n.message,
            "provider_message_id": n.provider_message_id, "reason": n.reason,
        }  # fmt: skip
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _promise(p: PromiseFacts) -> dict[str, JSONValue]:
    return {"id": p.id, "external_ref": p.external_ref, "kind": p.kind, "status": p.status}


def signature(secret: str, body: bytes, t: int) -> str:
    """Return the ``X-Notifier-Signature`` value: ``t=<t>,v1=<hex HMAC-SHA256 of "t.body">``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def is_authentic(
    secret: str, body: bytes, header: str, now: datetime, window: timedelta = REPLAY_WINDOW
) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` within ``window`` of ``now``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - t) > window.total_seconds():
        return False
    return hmac.compare_digest(signature(secret, body, t), f"t={t},v1={parts.get('v1', '')}")


class Answer(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the receiver cannot take it now: try again later
    PARK = "park"  # the receiver refused this event: kept aside, counted, never dropped


# 4xx that say our side or theirs is set up wrong, or busy, not that this event is bad:
# a wrong URL or secret must not park every event; once fixed, they all flow.
_RETRIED_4XX = frozenset({401, 403, 404, 405, 407, 408, 409, 421, 423, 425, 429})


def judge(status: int) -> Answer:
    """What the receiver's HTTP ``status`` means for the event."""
    if 200 <= status < 300:
        return Answer.DELIVERED
    if 400 <= status < 500 and status not in _RETRIED_4XX:
        return Answer.PARK
    return Answer.RETRY  # 5xx, 429, 3xx (a redirect is not followed: the URL is wrong)


def retry_delay(
    attempts: int, floor: timedelta, cap: timedelta, jitter: float, retry_after: timedelta | None
) -> timedelta:
    """How long to wait before try ``attempts + 1``: exponential, jittered, capped.

    ``jitter`` in [0, 1) spreads the wait over its upper half; a receiver's Retry-After is
    never cut short, even past the cap.
    """
    exponent = min(max(attempts - 1, 0), 30)
    base = min(cap, floor * (2**exponent))
    wait: timedelta = base * (0.5 + jitter / 2)
    return wait if retry_after is None or retry_after <= wait else retry_after


@dataclass(frozen=True, slots=True)
class EventBacklog:
    """The events not delivered yet, for ``notifier status`` and the metrics."""

    pending: int = 0
    oldest: datetime | None = None  # when the oldest pending event was written
    parked: int = 0  # refused by the receiver, kept aside (docs/operations.md)


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What one POST of an event came to, to record."""

    event_id: int
    delivered: bool
    error: str | None = None
    retry_at: datetime | None = None  # None when not delivered: parked

"""Notifications as the dispatcher sees them, and the changes it decides on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import lru_cache
from typing import Literal

from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    JSONValue,
    NotificationId,
    NotificationStatus,
    PlanError,
    Promise,
    PromiseId,
)
from notifier.domain.notices import AnyNotice, Audience, Priority, SentLedger
from notifier.domain.quiet_hours import QuietAction, QuietHours
from notifier.domain.routing import ChannelChoice

FINAL = frozenset(
    {
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
        NotificationStatus.UNDELIVERED,
        NotificationStatus.FAILED,
        NotificationStatus.UNKNOWN,
        NotificationStatus.SUPPRESSED,
        NotificationStatus.CANCELLED,
    }
)


@dataclass(frozen=True, slots=True)
class Notification:
    id: NotificationId
    dedupe_key: str
    customer_id: CustomerId | None  # None: to ops about no one customer
    promise_id: PromiseId | None
    rule_id: str | None
    message: str
    stage: str
    step: int
    priority: Priority
    audience: Audience
    channel_choice: ChannelChoice
    fallback: tuple[ChannelName, ...]
    failed_channels: frozenset[ChannelName]
    status: NotificationStatus
    not_before: datetime
    attempts: int
    deadline_version: int | None  # None: no promise's step
    quiet_hours: QuietHours | None
    created_at: datetime
    channel: ChannelName | None = None
    address: str | None = None
    subject: str | None = None
    body: str | None = None
    provider_id: str | None = None
    attempted_at: datetime | None = None
    members: tuple[NotificationId, ...] = ()  # others folded into this one (several_late)
    folded_into: NotificationId | None = None  # this one goes out inside that one
    data: Mapping[str, JSONValue] = field(default_factory=dict)  # what ``ops`` templates read
    incident_id: int | None = None  # a crisis message (domain/crisis.py decides it)


@dataclass(frozen=True, slots=True)
class Muted:
    """A notice a mute holds back: until ``until``, or for good when it is None."""

    reason: str
    until: datetime | None = None
    code: str | None = None  # the row's error_code (``muted_by_incident``)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a notification's history."""

    type: str  # scheduled, claimed, held, deferred, routed, attempt, sent, retry, failed ...
    reason: str | None = None
    channel: ChannelName | None = None
    detail: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """What to write for one notification; None fields are left as they are."""

    id: NotificationId
    event: Event | None = None
    status: NotificationStatus | None = None
    not_before: datetime | None = None
    channel: ChannelName | None = None
    address: str | None = None
    subject: str | None = None
    body: str | None = None
    message: str | None = None
    provider_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    count_attempt: bool = False
    # Set the attempts counter (unless count_attempt): 0 when the row moves on to its next
    # channel (each has its own NOTIFIER_MAX_ATTEMPTS), its count before a throttled send.
    attempts: int | None = None
    attempted_at: datetime | None = None
    unattempted: bool = False  # the attempt given back (never left): attempted_at cleared
    sent_at: datetime | None = None
    fail_channel: ChannelName | None = None
    members: tuple[NotificationId, ...] | None = None
    folded_into: NotificationId | None = None
    unfold: bool = False  # no longer part of another notification
    release: bool = False  # drop the lease (back to pending or final)
    hold_until: datetime | None = None  # no owner, nobody takes it before then (a backoff)


def back_in_outbox(
    notification_id: NotificationId,
    at: datetime,
    event: Event,
    *,
    error_code: str | None = None,
    error: str | None = None,
    fail_channel: ChannelName | None = None,
    unfold: bool = False,
) -> Change:
    """Return the change that puts a row back in the outbox, due at ``at``, lease dropped.

    With ``fail_channel`` the row moves on to its next channel, which starts with no
    attempts counted.
    """
    return Change(
        notification_id, event, NotificationStatus.PENDING, not_before=at, error_code=error_code,
        error=error, fail_channel=fail_channel, unfold=unfold, release=True,
        attempts=0 if fail_channel is not None else None,
    )  # fmt: skip


# A failed lookup at the provider after a crash (the row waits, then asks again).
LOOKUP_FAILED = "recovery_deferred"


# Why a row ended ``failed`` when one of its own values broke a stage (docs/operations.md).
RENDER_ERROR = "render_error"  # composing or rendering the message
COMPOSE_ERROR = "compose_error"  # building the channel's message from the rendered text
ROUTE_ERROR = "route_error"  # deciding the channel, the cap, the grouping
UNREADABLE_ROW = "unreadable_row"  # its customer's or promise's row holds what no version writes
SEND_ERROR = "send_error"  # the adapter raised something that is not a SendError
WRITE_ERROR = "write_error"  # the row's own outcome could not be written as it was


def failed(
    notification_id: NotificationId, reason: str, text: str, channel: ChannelName | None = None
) -> Change:
    """Return the change that ends a row ``failed``: ``reason: text`` in its error and history."""
    line = f"{reason}: {text}"
    event = Event("failed", line, channel, {"error": reason})
    return Change(notification_id, event, NotificationStatus.FAILED, error_code=reason,
                  error=line, release=True)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DuePromise:
    """A promise the scan must look at, with what it needs to decide."""

    promise: Promise
    customer: Customer
    sent: SentLedger


@dataclass(frozen=True, slots=True)
class PromiseChange:
    """The scan's verdict on one promise: its new check time, and whether it broke.

    ``error`` is the promise's plan-error state to write (None clears it); ``report``
    asks for a ``plan_error`` event: on the first failure of a run and when its reason
    changes, not on every retry.
    """

    promise: Promise  # as read: the write only lands if nobody changed it since
    next_check_at: datetime | None
    broken: bool = False
    error: PlanError | None = None
    report: bool = False


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A notice to put in the outbox, due at ``not_before`` (later when held back)."""

    notice: AnyNotice
    not_before: datetime
    held: str | None = None  # why it waits past its moment (consolidation)


QUIET_ACTIONS: Mapping[str, QuietAction] = {a.value: a for a in QuietAction}
Verdict = Literal["send", "cancel", "suppress"]


def outbox_payload(notice: AnyNotice) -> dict[str, JSONValue]:
    """Return the outbox row's payload for ``notice``: what its columns do not hold.

    ``reason`` says why it was scheduled: the first line of the row's history, read from
    the row itself rather than written again as a history row. A notice that is no
    promise's step has no deadline version; ``data`` is what its template reads.
    """
    payload: dict[str, JSONValue] = {
        "audience": notice.audience,
        "deadline_version": notice.deadline_version,
        "quiet_hours": quiet_to_json(notice.quiet_hours),
        "reason": notice.reason,
    }
    if notice.deadline_version is None:
        del payload["deadline_version"]
    if notice.data:
        payload["data"] = dict(notice.data)
    return payload


def quiet_to_json(quiet: QuietHours | None) -> dict[str, JSONValue] | None:
    """Return quiet hours as JSON for the outbox row."""
    return None if quiet is None else dict(_quiet_json(quiet))


@lru_cache(maxsize=256)  # a handful of rules' quiet hours, written on every outbox row
def _quiet_json(quiet: QuietHours) -> dict[str, JSONValue]:
    return {
        "start": quiet.start.strftime("%H:%M"),
        "end": quiet.end.strftime("%H:%M"),
        "action": quiet.action.value,
    }


def quiet_from_json(value: object) -> QuietHours | None:
    """Return the quiet hours stored by quiet_to_json."""
    if not isinstance(value, dict):
        return None
    return QuietHours(
        time.fromisoformat(str(value["start"])),
        time.fromisoformat(str(value["end"])),
        QUIET_ACTIONS[str(value.get("action", "defer"))],
    )

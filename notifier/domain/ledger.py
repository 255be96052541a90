"""The ledger's lifecycle rules: settling, rescheduling and revising a promise, merging a customer.

Pure functions over domain values: each returns the next state (the same object when
nothing changes) or why the change is refused. The store reads the rows, calls these and
writes what they return, in the transaction and with the locks it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from notifier.domain.ingest import CustomerData, PromiseData, RowError
from notifier.domain.models import (
    ChannelName,
    Customer,
    CustomerId,
    JSONValue,
    Promise,
    PromiseEventType,
    PromiseId,
    PromiseStatus,
)

C = TypeVar("C", bound=str)

# Keep and cancel: the status each event settles into, and the statuses it may leave.
SETTLES_INTO = {
    PromiseEventType.KEPT: PromiseStatus.KEPT,
    PromiseEventType.CANCELLED: PromiseStatus.CANCELLED,
}
SETTLEABLE = frozenset({PromiseStatus.OPEN, PromiseStatus.BROKEN})
# What an upsert may edit in place (due_at and window_start move the deadline instead).
EDITABLE = ("kind", "window_start", "estimate_at", "attributes")
# A customer field given as None keeps the stored value (a new customer gets the default).
KEPT_WHEN_NONE = frozenset({"locale", "timezone"})
# What forgetting a customer erases from them (history keeps counts, not words).
ERASED_WHEN_FORGOTTEN = ("name", "phone", "email", "whatsapp", "x_user_id")
# The address fields and the channel each one reaches.
ADDRESS_CHANNEL: dict[str, ChannelName] = {
    "phone": "sms",
    "whatsapp": "whatsapp",
    "email": "email",
    "x_user_id": "x",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a change may not be made to the promise as it stands (the store raises a conflict)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Revision:
    """What an upsert does to a stored promise: its next state and the event to record.

    ``event`` is None when nothing changed (``promise`` is then the one given).
    """

    promise: Promise
    event: PromiseEventType | None = None
    data: dict[str, JSONValue] = field(default_factory=dict)


# The id of a promise not stored yet (the store gives it one when it inserts it).
UNSTORED = PromiseId(0)


def open_promise(item: PromiseData, now: datetime) -> Promise:
    """Return a new promise for ``item``: open, first deadline version, checked now."""
    return Promise(
        id=UNSTORED,
        customer_id=item.customer_id,
        kind=item.kind,
        status=PromiseStatus.OPEN,
        due_at=item.due_at,
        external_ref=item.external_ref,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
        window_start=item.window_start,
        estimate_at=item.estimate_at,
        attributes=dict(item.attributes),
        next_check_at=now,
    )


def settle(promise: Promise, event: PromiseEventType, now: datetime) -> Promise | Refusal:
    """Keep or cancel the promise: twice is a no-op, settling one settled otherwise refused."""
    target = SETTLES_INTO[event]
    if promise.status is target:
        return promise
    if promise.status not in SETTLEABLE:
        return Refusal(f"promise {promise.id} is {promise.status.value}; it cannot be {event}")
    # A settled promise is checked once more now, so the scan drops what was planned for it.
    return replace(
        promise,
        status=target,
        status_changed_at=now,
        updated_at=now,
        next_check_at=now,
        plan_error=None,
    )


def reschedule(
    promise: Promise, due_at: datetime, window_start: datetime | None, now: datetime
) -> Promise | Refusal:
    """Move the deadline; a settled promise is refused, the same deadline is a no-op."""
    if promise.is_settled:
        return Refusal(
            f"promise {promise.id} is {promise.status.value}; a settled promise cannot be "
            "rescheduled"
        )
    return moved(promise, due_at, window_start, now)


def moved(
    promise: Promise, due_at: datetime, window_start: datetime | None, now: datetime
) -> Promise:
    """Return the promise with the new deadline: a new version, counted as broken, open again.

    The promise itself when the deadline is the one it has.
    """
    if promise.due_at == due_at and promise.window_start == window_start:
        return promise
    return replace(
        promise,
        due_at=due_at,
        window_start=window_start,
        deadline_version=promise.deadline_version + 1,
        times_broken=promise.times_broken + 1,
        status=PromiseStatus.OPEN,
        status_changed_at=now,
        updated_at=now,
        next_check_at=now,
        plan_error=None,
    )


def rescheduled_data(before: Promise, after: Promise) -> dict[str, JSONValue]:
    """Return a ``rescheduled`` event's data: the old and the new deadline."""
    return {
        "old_due_at": before.due_at.isoformat(),
        "new_due_at": after.due_at.isoformat(),
        "old_window_start": before.window_start.isoformat() if before.window_start else None,
        "new_window_start": after.window_start.isoformat() if after.window_start else None,
    }


def revise(promise: Promise, item: PromiseData, now: datetime) -> Revision | RowError:
    """Apply an upsert of ``item`` to the stored promise with its ``external_ref``.

    A new deadline on an unsettled promise is a reschedule (edits ride along); on a settled
    one it is ignored. Other edits are an update that re-arms the check.
    """
    if promise.customer_id != item.customer_id:
        return RowError(
            "customer_id",
            f"external_ref {item.external_ref!r} belongs to customer {promise.customer_id!r}",
        )
    edits = _edits(promise, item)
    if not promise.is_settled:
        after = moved(promise, item.due_at, item.window_start, now)
        if after is not promise:
            after = replace(after, **edits) if edits else after
            return Revision(after, PromiseEventType.RESCHEDULED, rescheduled_data(promise, after))
    if not edits:
        return Revision(promise)
    # The event names the columns the update wrote, the check's re-arming with them.
    fields: list[JSONValue] = [*sorted([*edits, "next_check_at", "updated_at"])]
    after = replace(
        promise,
        **edits,
        updated_at=now,
        next_check_at=now,
        plan_error=None,
    )
    return Revision(after, PromiseEventType.UPDATED, {"fields": fields})


def _edits(promise: Promise, item: PromiseData) -> dict[str, Any]:
    # Spelled out, the fields of EDITABLE: an import calls this for every row it has seen.
    edits: dict[str, Any] = {}
    if promise.kind != item.kind:
        edits["kind"] = item.kind
    if promise.window_start != item.window_start:
        edits["window_start"] = item.window_start
    if promise.estimate_at != item.estimate_at:
        edits["estimate_at"] = item.estimate_at
    if promise.attributes != item.attributes:
        edits["attributes"] = dict(item.attributes)
    return edits


def merge_customer(
    stored: Customer | None,
    incoming: CustomerData,
    now: datetime,
    *,
    default_locale: str,
    default_tz: str,
) -> Customer:
    """Return the customer after ``incoming``: the stored one itself when nothing changes.

    Field by field: a given plain field replaces the stored value (a None locale or zone
    keeps it); consent opts out of or back into each channel named; a changed address is
    no longer known to be undeliverable; any change brings a forgotten customer back.
    A new customer starts from the defaults.
    """
    if stored is None:
        given = {
            k: v for k, v in incoming.values.items() if v is not None or k not in KEPT_WHEN_NONE
        }
        return Customer(
            **{"locale": default_locale, "timezone": default_tz, **given},  # type: ignore[arg-type]
            id=CustomerId(incoming.id),
            opted_out=with_consent(frozenset(), incoming.consent),
            created_at=now,
            updated_at=now,
        )
    plain = {
        k: v
        for k, v in incoming.values.items()
        if not (v is None and k in KEPT_WHEN_NONE) and getattr(stored, k) != v
    }
    opted = with_consent(stored.opted_out, incoming.consent)
    moved_to = {ADDRESS_CHANNEL[k] for k in plain if k in ADDRESS_CHANNEL}
    if not plain and opted == stored.opted_out and not moved_to & stored.undeliverable.keys():
        return stored
    return replace(
        stored,
        **plain,  # type: ignore[arg-type]
        opted_out=opted,
        undeliverable={c: a for c, a in stored.undeliverable.items() if c not in moved_to},
        forgotten=False,
        updated_at=now,
    )


def with_consent(opted_out: AbstractSet[C], consent: Mapping[C, bool]) -> frozenset[C]:
    """Return the opted-out channels after ``consent``: False opts out, True back in."""
    if not consent:
        return frozenset(opted_out)
    return frozenset(
        (set(opted_out) | {c for c, ok in consent.items() if not ok})
        - {c for c, ok in consent.items() if ok}
    )


def with_undeliverable(marks: Mapping[C, str], channel: C, address: str) -> dict[C, str]:
    """Return the undeliverable marks after ``address`` failed hard on ``channel``.

    It stays marked until the address changes (``merge_customer`` clears it then).
    """
    return {**marks, channel: address}


@dataclass(frozen=True, slots=True)
class LastInbound:
    """Where and when the customer last wrote to us: the channel routing answers on."""

    channel: ChannelName | None = None
    at: datetime | None = None
    whatsapp_at: datetime | None = None  # opens WhatsApp's 24-hour session window


def after_inbound(last: LastInbound, channel: ChannelName, at: datetime) -> LastInbound:
    """Return the history after an inbound message on ``channel`` at ``at``.

    One as new as the last or newer makes its channel the last used (a late-reported older
    one does not); a WhatsApp one as new as the last WhatsApp one moves that too. The
    store applies this as conditional UPDATEs (``store/customers.py``), tested against it.
    """
    newer = last.at is None or last.at <= at
    whatsapp = channel == "whatsapp" and (last.whatsapp_at is None or last.whatsapp_at <= at)
    return LastInbound(
        channel=channel if newer else last.channel,
        at=at if newer else last.at,
        whatsapp_at=at if whatsapp else last.whatsapp_at,
    )

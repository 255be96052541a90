"""Domain values back to columns: what the store writes for the ledger rules' results.

``convert.py`` turns rows into values; this turns the next state the domain decided
(``domain/ledger.py``) into the columns to write, only those that differ, so an UPDATE
leaves alone what a concurrent writer may have set in the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifier.domain.ingest import CUSTOMER_FIELDS
from notifier.domain.models import Customer, Promise

# The promise fields the ledger's rules change, each its own column.
_PROMISE_COLUMNS = (
    "kind",
    "window_start",
    "estimate_at",
    "attributes",
    "due_at",
    "deadline_version",
    "times_broken",
    "status",
    "status_changed_at",
    "updated_at",
    "next_check_at",
)
# A cleared plan error, as its two columns (the rules clear it on every edit).
REARM: dict[str, Any] = {"plan_errors": 0, "plan_error": None}


def promise_changes(before: Promise, after: Promise) -> dict[str, Any]:
    """Return the ``promises`` columns to write to turn ``before`` into ``after``."""
    if after is before:
        return {}
    changes: dict[str, Any] = {}
    for name in _PROMISE_COLUMNS:
        value = getattr(after, name)
        if getattr(before, name) != value:
            changes[name] = value
    if "attributes" in changes:
        changes["attributes"] = dict(after.attributes)
    if "status" in changes:
        changes["status"] = after.status.value
    if changes and after.plan_error is None:
        changes.update(REARM)
    return changes


def promise_row(promise: Promise) -> dict[str, Any]:
    """Return the ``promises`` row to insert for a promise not stored yet (no id).

    Every such row carries the same columns, the plan-error ones too: one INSERT takes a
    batch of them, some edited again within it.
    """
    # Spelled out rather than a loop over the columns: an import calls this for every row.
    return {
        "customer_id": promise.customer_id, "kind": promise.kind,
        "status": promise.status.value, "due_at": promise.due_at,
        "window_start": promise.window_start, "estimate_at": promise.estimate_at,
        "attributes": dict(promise.attributes), "external_ref": promise.external_ref,
        "deadline_version": promise.deadline_version, "times_broken": promise.times_broken,
        "next_check_at": promise.next_check_at, "status_changed_at": promise.status_changed_at,
        "created_at": promise.created_at, "updated_at": promise.updated_at, **REARM,
    }  # fmt: skip


def customer_row(customer: Customer) -> dict[str, Any]:
    """Return the whole ``customers`` row for a customer not stored yet."""
    row: dict[str, Any] = {name: getattr(customer, name) for name in CUSTOMER_FIELDS}
    row.update(
        id=customer.id,
        opted_out=sorted(customer.opted_out),
        undeliverable=dict(customer.undeliverable),
        last_used_channel=customer.last_used_channel,
        last_inbound_at=None,
        last_whatsapp_inbound_at=customer.last_whatsapp_inbound_at,
        forgotten_at=None,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )
    return row


def customer_changes(before: Customer, after: Customer, now: datetime) -> dict[str, Any]:
    """Return the ``customers`` columns to write to turn ``before`` into ``after``."""
    if after is before:
        return {}
    changes: dict[str, Any] = {
        name: getattr(after, name)
        for name in CUSTOMER_FIELDS
        if getattr(before, name) != getattr(after, name)
    }
    if before.opted_out != after.opted_out:
        changes["opted_out"] = sorted(after.opted_out)
    if before.undeliverable != after.undeliverable:
        changes["undeliverable"] = dict(after.undeliverable)
    if before.forgotten != after.forgotten:
        changes["forgotten_at"] = now if after.forgotten else None
    if changes or before.updated_at != after.updated_at:
        changes["updated_at"] = after.updated_at
    return changes

"""The dispatcher's side of the outbox: claims with a lease, changes written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    CustomerId,
    NotificationId,
    NotificationStatus,
    PromiseId,
)
from notifier.domain.outbox import Change, Notification, quiet_from_json
from notifier.store.base import StoreBase
from notifier.store.convert import notifications
from notifier.store.dialects import PLUS_ONE, RowGroups, dialect_of

_PENDING = NotificationStatus.PENDING.value
_SENDING = NotificationStatus.SENDING.value


def to_notification(row: Any) -> Notification:
    """Return the dispatcher's view of a ``notifications`` row."""
    payload = row["payload"] or {}
    channel = row["channel"]
    return Notification(
        id=NotificationId(row["id"]),
        dedupe_key=row["dedupe_key"],
        customer_id=CustomerId(row["customer_id"]) if row["customer_id"] is not None else None,
        promise_id=PromiseId(row["promise_id"]) if row["promise_id"] is not None else None,
        rule_id=row["rule_id"],
        message=row["message"],
        stage=row["stage"],
        step=row["step"],
        priority=row["priority"],
        audience=payload.get("audience", "customer"),
        channel_choice=row["channel_choice"],
        fallback=tuple(c for c in row["fallback"] or [] if c in CHANNELS),
        failed_channels=frozenset(c for c in row["failed_channels"] or [] if c in CHANNELS),
        status=NotificationStatus(row["status"]),
        not_before=row["not_before"],
        attempts=row["attempts"],
        deadline_version=_deadline_version(row["promise_id"], payload),
        quiet_hours=quiet_from_json(payload.get("quiet_hours")),
        created_at=row["created_at"],
        channel=cast(ChannelName, channel) if channel in CHANNELS else None,
        address=row["address"],
        subject=row["subject"],
        body=row["body"],
        provider_id=row["provider_id"],
        attempted_at=row["attempted_at"],
        members=tuple(NotificationId(m) for m in payload.get("members", [])),
        folded_into=payload.get("folded_into"),
        data=payload.get("data") or {},
    )


def _deadline_version(promise_id: object, payload: dict[str, Any]) -> int | None:
    # Rows of a promise always wrote it; a notice that is no promise's step has none.
    version = payload.get("deadline_version")
    if version is None:
        return 1 if promise_id is not None else None
    return int(version)


# What to_notification reads: a claim returns these and no more.
_CLAIMED = [
    notifications.c[name]
    for name in ("id", "dedupe_key", "customer_id", "promise_id", "rule_id", "message", "stage",
                 "step", "priority", "payload", "channel_choice", "fallback", "failed_channels",
                 "status", "not_before", "attempts", "created_at", "channel", "address",
                 "subject", "body", "provider_id", "attempted_at")
]  # fmt: skip


class ClaimQueries(StoreBase):
    async def claim(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        paused_rules: Sequence[str] = (),
    ) -> list[Notification]:
        """Lease up to ``limit`` due pending rows to ``owner`` and return them.

        PostgreSQL skips rows another replica holds (FOR UPDATE SKIP LOCKED); SQLite has a
        single writer, taken up front by the transaction.
        """
        due = (
            select(notifications.c.id)
            .where(notifications.c.status == _PENDING, notifications.c.not_before <= now)
            .order_by(notifications.c.not_before, notifications.c.id)
            .limit(limit)
        )
        if paused_rules:
            due = due.where(
                or_(notifications.c.rule_id.is_(None), notifications.c.rule_id.not_in(paused_rules))
            )
        due = self.dialect.skip_locked(due)
        async with self.transaction() as conn:
            # One statement: the CTE picks (and on PostgreSQL locks) the rows, the UPDATE
            # leases them and returns what the dispatcher reads.
            picked = due.cte("due")
            rows = await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(select(picked.c.id)))
                # attempted_at cleared: claimed is not attempted (the sender stamps it when
                # the send may go), so a shutdown or recovery puts the row back, never unknown.
                .values(
                    status=_SENDING,
                    lease_owner=owner,
                    lease_until=now + lease,
                    attempted_at=None,
                    updated_at=now,
                )
                .returning(*_CLAIMED)
            )
            claimed = [to_notification(r) for r in rows.mappings()]
        claimed.sort(key=lambda n: (n.not_before, n.id))
        return claimed

    async def expired_leases(self, now: datetime, owner: str, limit: int) -> list[Notification]:
        """Return rows left ``sending`` by another (crashed) process whose lease ran out."""
        async with self.reading() as conn:
            rows = (
                await conn.execute(
                    select(notifications)
                    .where(
                        notifications.c.status == _SENDING,
                        or_(
                            notifications.c.lease_until.is_(None), notifications.c.lease_until < now
                        ),
                        or_(
                            notifications.c.lease_owner.is_(None),
                            notifications.c.lease_owner != owner,
                        ),
                    )
                    .limit(limit)
                )
            ).mappings()
            return [to_notification(r) for r in rows]

    async def adopt(
        self, ids: Sequence[int], now: datetime, owner: str, lease: timedelta
    ) -> list[int]:
        """Take over expired leases (only those still expired); return the ids taken."""
        async with self.transaction() as conn:
            rows = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.id.in_(list(ids)),
                    notifications.c.status == _SENDING,
                    or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
                )
                .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
                .returning(notifications.c.id)
            )
            return [r[0] for r in rows]

    async def renew(self, ids: Sequence[int], now: datetime, owner: str, lease: timedelta) -> None:
        """Extend the lease on rows this process is still sending."""
        if not ids:
            return
        async with self.transaction() as conn:
            await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(list(ids)), notifications.c.lease_owner == owner)
                .values(lease_until=now + lease)
            )

    async def release_all(self, owner: str, now: datetime) -> int:
        """Give back every row this process leased but has not started sending (shutdown)."""
        async with self.transaction() as conn:
            result = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.lease_owner == owner,
                    notifications.c.status == _SENDING,
                    notifications.c.attempted_at.is_(None),
                )
                .values(status=_PENDING, lease_owner=None, lease_until=None, updated_at=now)
            )
            return int(result.rowcount or 0)

    async def apply_changes(self, changes: Sequence[Change], now: datetime) -> None:
        """Write the dispatcher's decisions and outcomes, with their history, in one transaction."""
        if not changes:
            return
        async with self.transaction() as conn:
            await apply_changes(conn, changes, now)


async def apply_changes(conn: AsyncConnection, changes: Sequence[Change], now: datetime) -> None:
    """Write ``changes`` on ``conn`` (batched UPDATEs, the events in one INSERT)."""
    needs_row = [
        c.id
        for c in changes
        if c.fail_channel or c.members is not None or c.folded_into is not None or c.unfold
    ]
    current: dict[int, dict[str, Any]] = {}
    if needs_row:
        rows = await conn.execute(
            select(
                notifications.c.id, notifications.c.failed_channels, notifications.c.payload
            ).where(notifications.c.id.in_(needs_row))
        )
        current = {r[0]: {"failed_channels": r[1] or [], "payload": r[2] or {}} for r in rows}
    events: list[dict[str, Any]] = []
    await _update_rows(conn, [(c.id, _values(c, current.get(c.id), now)) for c in changes])
    for c in changes:
        if c.event is not None:
            e = c.event
            events.append(
                {"notification_id": c.id, "at": now, "type": e.type, "channel": e.channel,
                 "reason": e.reason, "detail": dict(e.detail)}
            )  # fmt: skip
    if events:
        await dialect_of(conn).insert_events(conn, events, now)


async def _update_rows(conn: AsyncConnection, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """UPDATE each row with its values: rows writing the same columns at once.

    A row changed twice in one call keeps the order of its changes, one UPDATE each.
    """
    ids = [i for i, values in rows if values]
    if len(set(ids)) != len(ids):
        for i, values in rows:
            if values:
                written = {k: notifications.c.attempts + 1 if v is PLUS_ONE else v
                           for k, v in values.items()}  # fmt: skip
                await conn.execute(
                    update(notifications).where(notifications.c.id == i).values(written)
                )
        return
    groups: RowGroups = {}
    for i, values in rows:
        if values:
            groups.setdefault(tuple(sorted(values)), []).append((i, values))
    await dialect_of(conn).update_rows(conn, groups)


def _values(c: Change, row: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": now}
    plain = {
        "status": c.status.value if c.status else None, "not_before": c.not_before,
        "channel": c.channel, "address": c.address, "subject": c.subject, "body": c.body,
        "message": c.message, "provider_id": c.provider_id, "error_code": c.error_code,
        "error": c.error, "attempted_at": c.attempted_at, "sent_at": c.sent_at,
    }  # fmt: skip
    values.update({k: v for k, v in plain.items() if v is not None})
    if c.count_attempt:
        values["attempts"] = PLUS_ONE
    if c.release:
        values.update(lease_owner=None, lease_until=None)
    if row is not None:
        if c.fail_channel and c.fail_channel not in row["failed_channels"]:
            values["failed_channels"] = [*row["failed_channels"], c.fail_channel]
        payload = dict(row["payload"])
        if c.members is not None:
            payload["members"] = list(c.members)
        if c.folded_into is not None:
            payload["folded_into"] = c.folded_into
        if c.unfold:
            payload.pop("folded_into", None)
            payload.pop("members", None)
        if payload != row["payload"]:
            values["payload"] = payload
    return values

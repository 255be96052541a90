"""The dispatcher's side of the outbox: claims with a lease, changes written in batches.

Claims take a customer's due rows together; the dispatcher's writes are fenced by its
lease (``leased_to``). Why and how across replicas: ``store/cluster.py`` and
``store/dialects/postgres_cluster.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Self, cast

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from notifier.domain.models import (
    CHANNELS,
    ChannelName,
    CustomerId,
    NotificationId,
    NotificationStatus,
    PromiseId,
)
from notifier.domain.outbox import (
    FINAL,
    LOOKUP_FAILED,
    Change,
    Notification,
    quiet_from_json,
)
from notifier.store.base import StoreBase, among
from notifier.store.cluster import fenced
from notifier.store.convert import notification_events, notifications
from notifier.store.dialects import PLUS_ONE, RowGroups, dialect_of
from notifier.store.earliest import SEND, announce
from notifier.store.event_writes import report_notifications

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
        incident_id=row.get("incident_id"),
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
                 "subject", "body", "provider_id", "attempted_at", "incident_id")
]  # fmt: skip


class ClaimQueries(StoreBase):
    lease_owner: str | None = None  # set by ``leased_to``: outcome writes check the lease

    async def claim(
        self,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int,
        paused_rules: Sequence[str] = (),
    ) -> list[Notification]:
        """Lease to ``owner`` the due pending rows of up to ``limit`` rows' customers.

        A customer's due rows are claimed together, so that deciding (the frequency cap,
        consolidation) sees them all; the claim may return more than ``limit`` rows when
        a customer has more due. PostgreSQL passes over rows another replica holds
        (FOR UPDATE SKIP LOCKED) and over customers another claim or another replica's
        sends hold (``Dialect.claim_customers``); SQLite has a single writer, taken
        up front by the transaction.
        """
        due = select(notifications.c.id, notifications.c.customer_id).where(
            notifications.c.status == _PENDING, notifications.c.not_before <= now
        )
        if paused_rules:
            due = due.where(
                or_(notifications.c.rule_id.is_(None), notifications.c.rule_id.not_in(paused_rules))
            )
        first = due.order_by(notifications.c.not_before, notifications.c.id)
        async with self.transaction() as conn:
            lone, taken = await self.dialect.claim_customers(conn, first, limit, owner, now)
            if not lone and not taken:
                return []
            whose: list[ColumnElement[bool]] = [notifications.c.id.in_(lone)] if lone else []
            if taken:
                whose.append(among(conn, notifications.c.customer_id, taken))
            rows = self.dialect.skip_locked(due.where(or_(*whose))).cte("due")
            # One statement: the CTE picks (and on PostgreSQL locks) the rows, the UPDATE
            # leases them and returns what the dispatcher reads.
            result = await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(select(rows.c.id)))
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
            claimed = [to_notification(r) for r in result.mappings()]
        claimed.sort(key=lambda n: (n.not_before, n.id))
        return claimed

    async def expired_leases(
        self, now: datetime, owner: str, limit: int, held: Collection[int] | None = None
    ) -> list[Notification]:
        """Return rows left ``sending`` whose lease ran out: a crashed process's.

        With ``held`` (the rows ``owner`` is still working on), ``owner``'s own expired rows
        come too, but those: claimed and then dropped (a store error between the claim and
        the attempt's write), they would wait for a restart otherwise. A live lease is
        never taken, not even one's own: a row claimed while this query runs is not in
        ``held`` yet.
        """
        query = select(notifications).where(
            notifications.c.status == _SENDING,
            or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
        )
        if held is None:
            query = query.where(
                or_(notifications.c.lease_owner.is_(None), notifications.c.lease_owner != owner)
            )
        elif held:
            query = query.where(notifications.c.id.not_in(sorted(held)))
        async with self.reading() as conn:
            rows = (await conn.execute(query.order_by(notifications.c.id).limit(limit))).mappings()
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

    async def lookup_failures(self, ids: Sequence[int]) -> dict[int, int]:
        """Return how many lookups failed for each row since its last attempt (none: absent)."""
        if not ids:
            return {}
        e, n = notification_events.c, notifications.c
        async with self.reading() as conn:
            rows = await conn.execute(
                select(e.notification_id, func.count())
                .select_from(notification_events.join(notifications, n.id == e.notification_id))
                .where(e.notification_id.in_(list(ids)), e.type == LOOKUP_FAILED,
                       or_(n.attempted_at.is_(None), e.at >= n.attempted_at))
                .group_by(e.notification_id)
            )  # fmt: skip
            return {int(i): int(count) for i, count in rows}

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
            released = int(result.rowcount or 0)
            if released:  # another replica may send them now
                await announce(conn, SEND)
            return released

    def leased_to(self, owner: str) -> Self:
        """This store with its outcome writes fenced by ``owner``'s lease (the dispatcher's)."""
        twin = copy.copy(self)
        twin.lease_owner = owner
        return twin

    async def apply_changes(self, changes: Sequence[Change], now: datetime) -> set[int]:
        """Write the dispatcher's decisions and outcomes, with their history, in one transaction.

        Fenced (``leased_to``): only rows still leased to the owner are written; a row
        another replica adopted, or one released meanwhile, is left as it is, and logged.
        Return the ids of the rows written: a caller must not send a row left out.
        """
        if not changes:
            return set()
        async with self.transaction() as conn:
            if self.lease_owner is not None:
                changes = await fenced(conn, changes, self.lease_owner)
            await apply_changes(conn, changes, now)
        return {c.id for c in changes}


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
    # The CRM hears of the outcomes; the lease's comings and goings (sending, and back to
    # pending for a retry or a deferral) are no news to it.
    await report_notifications(conn, [c.id for c in changes if c.status in FINAL], now)


async def _update_rows(conn: AsyncConnection, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """UPDATE each row with its values: rows writing the same columns at once.

    A row changed twice in one call keeps the order of its changes, one UPDATE each.
    """
    ids = [i for i, values in rows if values]
    # A row setting its attempts counter (moved on to the next channel, or throttled)
    # goes alone: the batched statements only ever count it one up.
    if len(set(ids)) == len(ids) and any(_sets_attempts(v) for _, v in rows):
        await _update_setting_attempts(conn, [(i, v) for i, v in rows if _sets_attempts(v)])
        rows = [(i, v) for i, v in rows if not _sets_attempts(v)]
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


def _sets_attempts(values: dict[str, Any]) -> bool:
    return values.get("attempts", PLUS_ONE) is not PLUS_ONE


async def _update_setting_attempts(
    conn: AsyncConnection, rows: list[tuple[int, dict[str, Any]]]
) -> None:
    """UPDATE rows that set their attempts counter: one executemany per set of columns."""
    groups: RowGroups = {}
    for i, values in rows:
        groups.setdefault(tuple(sorted(values)), []).append((i, values))
    for columns, group in groups.items():
        statement = (
            update(notifications)
            .where(notifications.c.id == bindparam("v_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        params = [{"v_id": i, **{f"v_{c}": v for c, v in values.items()}} for i, values in group]
        await conn.execute(statement, params)


def _values(c: Change, row: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": now}
    plain = {
        "status": c.status.value if c.status else None, "not_before": c.not_before,
        "channel": c.channel, "address": c.address, "subject": c.subject, "body": c.body,
        "message": c.message, "provider_id": c.provider_id, "error_code": c.error_code,
        "error": c.error, "attempted_at": c.attempted_at, "sent_at": c.sent_at,
    }  # fmt: skip
    values.update({k: v for k, v in plain.items() if v is not None})
    if c.unattempted:
        values["attempted_at"] = None
    if c.count_attempt:
        values["attempts"] = PLUS_ONE
    elif c.attempts is not None:
        values["attempts"] = c.attempts
    if c.release:
        values.update(lease_owner=None, lease_until=None)
    if c.hold_until is not None:
        values.update(lease_owner=None, lease_until=c.hold_until)
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

"""Reads for people and for the dispatcher's checks: history, caps, pauses, status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.health import Backlog
from notifier.domain.ledger import with_consent
from notifier.domain.models import ChannelName, NotificationStatus
from notifier.domain.published import PublishedState, RetentionState, RulesState, ScanState
from notifier.domain.reports import (
    ErrorLine,
    Pause,
    PlanErrorLine,
    QueueStats,
    RenderErrorLine,
)
from notifier.store.base import StoreBase, among
from notifier.store.convert import (
    customers,
    notification_events,
    notifications,
    promises,
)
from notifier.store.customers import mark_undeliverable
from notifier.store.earliest import SEND, announce
from notifier.store.report_rows import (
    to_error_line,
    to_pause,
    to_plan_error_line,
    to_published,
    to_render_error_line,
)
from notifier.store.tables import PauseRow, StateRow

pauses = PauseRow.__table__  # type: ignore[attr-defined]
state = StateRow.__table__  # type: ignore[attr-defined]
_SENT = [NotificationStatus.SENT.value, NotificationStatus.DELIVERED.value]


_KEYS = {ScanState: "scan", RulesState: "rules", RetentionState: "retention"}


class ReportQueries(StoreBase):
    async def sent_since(
        self, customer_ids: Sequence[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """Return, per customer, when proactive messages went out to them since ``since``.

        One entry per message: a notice folded into another did not make a message of its
        own, and escalations to ops are not messages to the customer.
        """
        if not customer_ids:
            return {}
        async with self.reading() as conn:
            rows = await conn.execute(
                select(
                    notifications.c.customer_id, notifications.c.sent_at, notifications.c.payload
                ).where(
                    among(conn, notifications.c.customer_id, set(customer_ids)),
                    notifications.c.status.in_(_SENT),
                    notifications.c.sent_at >= since,
                    notifications.c.incident_id.is_(None),  # crisis messages are not capped
                )
            )
            found: dict[str, list[datetime]] = {}
            for cid, at, payload in rows:
                payload = payload or {}
                if payload.get("audience", "customer") != "customer" or "folded_into" in payload:
                    continue
                found.setdefault(cid, []).append(at)
        return found

    async def mark_undeliverable(
        self, customer_id: str, channel: ChannelName, address: str
    ) -> None:
        """Remember that ``address`` failed hard on ``channel`` (until the address changes)."""
        async with self.transaction() as conn:
            await mark_undeliverable(conn, customer_id, channel, address)

    async def set_consent(
        self, customer_id: str, channel: ChannelName, allowed: bool, now: datetime
    ) -> bool:
        """Opt the customer in or out of ``channel``; False when the customer is unknown."""
        async with self.transaction() as conn:
            return await set_consent(conn, customer_id, channel, allowed, now)

    async def pauses(self, now: datetime) -> list[Pause]:
        """Return the pauses in force (a down channel's pause lapses at its probe time)."""
        async with self.reading() as conn:
            query = select(pauses).order_by(pauses.c.created_at, pauses.c.id)  # ties: as made
            rows = (await conn.execute(query)).mappings()
            return [to_pause(r) for r in rows if r["until"] is None or r["until"] > now]

    async def pause(
        self, kind: str, target: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        """Record a pause (replacing an earlier one for the same target)."""
        statement = self.dialect.insert(pauses).values(
            kind=kind, target=target, reason=reason, created_at=now, until=until
        )
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "target"],
            set_={"reason": reason, "created_at": now, "until": until},
        )
        async with self.transaction() as conn:
            await conn.execute(statement)

    async def resume(self, kind: str, target: str | None, now: datetime) -> int:
        """Lift pauses of ``kind`` (one target, or all); held notifications go again now."""
        async with self.transaction() as conn:
            query = delete(pauses).where(pauses.c.kind == kind)
            if target is not None:
                query = query.where(pauses.c.target == target)
            lifted = int((await conn.execute(query)).rowcount or 0)
            held = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.status == NotificationStatus.PENDING.value,
                    notifications.c.not_before > now,
                    notifications.c.error_code == "held",
                )
                .values(not_before=now)
            )
            if lifted or held.rowcount:
                await announce(conn, SEND)
        return lifted

    async def publish(self, fact: ScanState | RulesState | RetentionState, now: datetime) -> None:
        """Publish the scan state, the rules' last load or the last purge for ``notifier status``.

        Stored as JSON (``fact.view()``): other replicas and older processes read it too.
        """
        key, value = _KEYS[type(fact)], fact.view()
        statement = self.dialect.insert(state).values(key=key, value=value, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": now}
        )
        async with self.transaction() as conn:
            await conn.execute(statement)

    async def published(self) -> PublishedState:
        """Return every published fact with when it was published."""
        async with self.reading() as conn:
            return to_published((await conn.execute(select(state))).mappings())

    async def queue_stats(self) -> QueueStats:
        """Return counts by status and the oldest pending row's due time."""
        async with self.reading() as conn:
            query = select(notifications.c.status, func.count()).group_by(notifications.c.status)
            counts = {str(status): int(n) for status, n in await conn.execute(query)}
            oldest = await conn.scalar(
                select(func.min(notifications.c.not_before)).where(
                    notifications.c.status == NotificationStatus.PENDING.value
                )
            )
        return QueueStats(counts, oldest)

    async def sending_backlog(self, now: datetime) -> Backlog:
        """Return how many rows are ``sending``, the oldest one's claim, how many past lease.

        A claim (or an adoption) stamps ``updated_at``; lease renewals do not.
        """
        c = notifications.c
        past = or_(c.lease_until.is_(None), c.lease_until < now)
        # Attempted and held by no process: recovery asks the provider about it.
        lookup = and_(c.lease_owner.is_(None), c.attempted_at.is_not(None))
        async with self.reading() as conn:
            count, oldest, past_lease, awaiting = (
                await conn.execute(
                    select(func.count(), func.min(c.updated_at),
                           func.coalesce(func.sum(case((past, 1), else_=0)), 0),
                           func.coalesce(func.sum(case((lookup, 1), else_=0)), 0))
                    .where(c.status == NotificationStatus.SENDING.value)
                )
            ).one()  # fmt: skip
        return Backlog(int(count), oldest, int(past_lease), int(awaiting))

    async def last_errors(self, limit: int = 5) -> list[ErrorLine]:
        """Return the latest failed attempts, newest first."""
        async with self.reading() as conn:
            rows = (
                await conn.execute(
                    select(notification_events)
                    .where(
                        notification_events.c.type.in_(
                            ["retry", "failed_channel", "channel_down", "failed"]
                        )
                    )
                    .order_by(notification_events.c.at.desc(), notification_events.c.id.desc())
                    .limit(limit)
                )
            ).mappings()
            return [to_error_line(r) for r in rows]

    async def plan_errors(self, limit: int = 20) -> tuple[int, list[PlanErrorLine]]:
        """Return how many promises the scan cannot plan now, and the first ``limit`` of them.

        Read from the partial index on ``plan_errors``: it holds only those promises.
        """
        async with self.reading() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(promises).where(promises.c.plan_errors > 0)
            )
            rows = (
                await conn.execute(
                    select(
                        promises.c.id,
                        promises.c.customer_id,
                        promises.c.kind,
                        promises.c.plan_errors,
                        promises.c.plan_error,
                        promises.c.next_check_at,
                    )
                    .where(promises.c.plan_errors > 0)
                    .order_by(promises.c.id)
                    .limit(limit)
                )
            ).mappings()
            found = [to_plan_error_line(r) for r in rows]
        return int(count or 0), found

    async def render_errors(self, limit: int = 5) -> list[RenderErrorLine]:
        """Return the latest notifications failed with ``render_error``, newest first."""
        async with self.reading() as conn:
            rows = (
                await conn.execute(
                    select(
                        notification_events.c.at,
                        notification_events.c.notification_id,
                        notifications.c.customer_id,
                        notifications.c.message,
                        notification_events.c.channel,
                        notification_events.c.reason,
                    )
                    .join(
                        notifications,
                        notifications.c.id == notification_events.c.notification_id,
                    )
                    .where(
                        notification_events.c.type == "failed",
                        notification_events.c.reason.like("render_error:%"),
                    )
                    .order_by(notification_events.c.at.desc(), notification_events.c.id.desc())
                    .limit(limit)
                )
            ).mappings()
            return [to_render_error_line(r) for r in rows]


async def set_consent(
    conn: AsyncConnection, customer_id: str, channel: ChannelName, allowed: bool, now: datetime
) -> bool:
    """Opt the customer in or out of ``channel`` in the caller's transaction.

    False when the customer is unknown.
    """
    current = (
        await conn.execute(select(customers.c.opted_out).where(customers.c.id == customer_id))
    ).first()
    if current is None:
        return False
    opted: frozenset[str] = with_consent(frozenset(current[0] or []), {channel: allowed})
    await conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(opted_out=sorted(opted), updated_at=now)
    )
    return True

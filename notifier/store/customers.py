"""Customers and interactions: idempotent upserts, last used channel, forgetting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.ingest import CustomerData, ForgetReport, InteractionData, RowError, Upserted
from notifier.domain.ledger import ERASED_WHEN_FORGOTTEN, merge_customer, with_undeliverable
from notifier.domain.models import Customer, CustomerId, Direction, NotificationStatus
from notifier.store.base import StoreBase, among
from notifier.store.convert import (
    converted,
    customers,
    interactions,
    notification_events,
    notifications,
    promises,
    to_customer,
)
from notifier.store.dialects import dialect_of
from notifier.store.event_writes import report_notifications
from notifier.store.incident_replies import forget_replies
from notifier.store.ops_mentions import erase_ops_mentions
from notifier.store.revisions import customer_changes, customer_row


class CustomerQueries(StoreBase):
    async def upsert_customers(
        self, items: Sequence[CustomerData], now: datetime, *, default_locale: str, default_tz: str
    ) -> list[Upserted]:
        """Create or update each customer in one transaction; unchanged ones are left alone."""
        async with self.transaction() as conn:
            return await upsert_customers(conn, items, now, default_locale, default_tz)

    async def get_customer(self, customer_id: str) -> Customer | None:
        """Return the customer, or None when unknown."""
        async with self.reading() as conn:
            row = (
                (await conn.execute(select(customers).where(customers.c.id == customer_id)))
                .mappings()
                .first()
            )
        return to_customer(row) if row else None

    async def get_customers(
        self, ids: Sequence[str], unreadable: dict[str, str] | None = None
    ) -> dict[str, Customer]:
        """Return the known customers among ``ids``, by id.

        A row that cannot be read (a value no version writes) is left out; with
        ``unreadable``, why is put there under its id.
        """
        async with self.reading() as conn:
            query = select(customers).where(among(conn, customers.c.id, set(ids)))
            rows = (await conn.execute(query)).mappings()
            return converted(rows, to_customer, unreadable)

    async def add_interactions(
        self, items: Sequence[InteractionData], now: datetime
    ) -> list[int | RowError]:
        """Record touchpoints; an inbound one newer than the last makes its channel last used."""
        async with self.transaction() as conn:
            known = await _existing_ids(conn, [i.customer_id for i in items])
            results: list[int | RowError] = []
            for item in items:
                if item.customer_id not in known:
                    results.append(
                        RowError("customer_id", f"unknown customer {item.customer_id!r}")
                    )
                    continue
                new_id = await _insert_interaction(conn, item, now)
                if item.direction is Direction.INBOUND:
                    await _touch_last_used(conn, item)
                results.append(int(new_id))
            return results

    async def forget_customer(self, customer_id: str, now: datetime) -> ForgetReport | None:
        """Erase names, addresses, bodies and history texts; keep counts and dedupe keys.

        None when the customer is unknown.
        """
        async with self.transaction() as conn:
            found = await conn.scalar(select(customers.c.id).where(customers.c.id == customer_id))
            if found is None:
                return None
            await conn.execute(
                update(customers)
                .where(customers.c.id == customer_id)
                .values(
                    **dict.fromkeys(ERASED_WHEN_FORGOTTEN),
                    undeliverable={},
                    forgotten_at=now,
                    updated_at=now,
                )
            )
            n_interactions = (
                await conn.execute(
                    update(interactions)
                    .where(interactions.c.customer_id == customer_id)
                    .values(body=None)
                )
            ).rowcount
            n_promises = (
                await conn.execute(
                    update(promises)
                    .where(promises.c.customer_id == customer_id)
                    .values(attributes={}, next_check_at=None, updated_at=now)
                )
            ).rowcount
            n_notifications = (
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.customer_id == customer_id)
                    .values(
                        address=None,
                        subject=None,
                        body=None,
                        payload={},
                        error=None,
                        updated_at=now,
                    )
                )
            ).rowcount
            # Providers quote the number or the address in their errors and responses, and
            # reasons repeat them: history keeps what happened and when, not its words.
            theirs = select(notifications.c.id).where(notifications.c.customer_id == customer_id)
            await conn.execute(
                update(notification_events)
                .where(notification_events.c.notification_id.in_(theirs))
                .values(reason=None, detail={})
            )
            # Nothing may go out to someone who asked to be forgotten.
            cancelled = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.customer_id == customer_id,
                    notifications.c.status == NotificationStatus.PENDING.value,
                )
                .values(status=NotificationStatus.CANCELLED.value, error="customer forgotten")
                .returning(notifications.c.id)
            )
            await report_notifications(conn, [r[0] for r in cancelled], now)
            n_notifications += await erase_ops_mentions(conn, customer_id, now)
            await forget_replies(conn, customer_id)
        return ForgetReport(CustomerId(customer_id), n_interactions, n_promises, n_notifications)

    async def known_touchpoints(
        self, items: Sequence[InteractionData]
    ) -> set[tuple[str, datetime, str, str]]:
        """Return which of ``items`` the ledger holds: (customer, at, channel, direction) each.

        A superset of the matches is read (every customer's touchpoints at any of the
        instants); the caller looks its own keys up in it.
        """
        if not items:
            return set()
        query = select(
            interactions.c.customer_id,
            interactions.c.at,
            interactions.c.channel,
            interactions.c.direction,
        ).where(
            interactions.c.customer_id.in_({i.customer_id for i in items}),
            interactions.c.at.in_({i.at for i in items}),
        )
        async with self.reading() as conn:
            return {(r[0], r[1], r[2], r[3]) for r in await conn.execute(query)}

    async def count_customers(self) -> int:
        """Return how many customers the ledger holds."""
        async with self.reading() as conn:
            return int(await conn.scalar(select(func.count()).select_from(customers)) or 0)


async def _existing_ids(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    unique = list(set(ids))
    if not unique:
        return set()
    rows = await conn.execute(select(customers.c.id).where(customers.c.id.in_(unique)))
    return {r[0] for r in rows}


async def _insert_interaction(conn: AsyncConnection, item: InteractionData, now: datetime) -> int:
    """Insert the touchpoint once; the same one reported again returns the first id."""
    statement = (
        dialect_of(conn)
        .insert(interactions)
        .values(
            customer_id=item.customer_id,
            channel=item.channel,
            direction=item.direction.value,
            at=item.at,
            body=item.body,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(interactions.c.id)
    )
    new_id = await conn.scalar(statement)
    if new_id is None:
        new_id = await conn.scalar(
            select(interactions.c.id).where(
                interactions.c.customer_id == item.customer_id,
                interactions.c.at == item.at,
                interactions.c.channel == item.channel,
                interactions.c.direction == item.direction.value,
            )
        )
    return int(new_id)


async def _touch_last_used(conn: AsyncConnection, item: InteractionData) -> None:
    """Apply ``domain.ledger.after_inbound`` as conditional UPDATEs, safe against racing ones.

    The WHERE clauses are that function's conditions; a property test holds them to it.
    """
    values: dict[str, Any] = {"last_used_channel": item.channel, "last_inbound_at": item.at}
    newer = (customers.c.last_inbound_at.is_(None)) | (customers.c.last_inbound_at <= item.at)
    await conn.execute(
        update(customers).where(customers.c.id == item.customer_id, newer).values(**values)
    )
    if item.channel == "whatsapp":
        wa_newer = customers.c.last_whatsapp_inbound_at.is_(None) | (
            customers.c.last_whatsapp_inbound_at <= item.at
        )
        await conn.execute(
            update(customers)
            .where(customers.c.id == item.customer_id, wa_newer)
            .values(last_whatsapp_inbound_at=item.at)
        )


async def upsert_customers(
    conn: AsyncConnection,
    items: Sequence[CustomerData],
    now: datetime,
    default_locale: str,
    default_tz: str,
) -> list[Upserted]:
    """Insert new customers in bulk and update the changed ones; return one outcome each.

    Each merge of input and stored customer is ``domain.ledger.merge_customer``'s.
    """
    ids = [c.id for c in items]
    existing: dict[str, Customer] = {
        r["id"]: to_customer(r)
        for r in (await conn.execute(select(customers).where(customers.c.id.in_(set(ids)))))
        .mappings()
        .all()
    }
    fresh: dict[str, Customer] = {}
    results: list[Upserted] = []
    for item in items:
        current = fresh.get(item.id) or existing.get(item.id)
        merged = merge_customer(
            current, item, now, default_locale=default_locale, default_tz=default_tz
        )
        if current is None or item.id in fresh:
            fresh[item.id] = merged
        elif merged is not current:
            changes = customer_changes(current, merged, now)
            await conn.execute(update(customers).where(customers.c.id == item.id).values(**changes))
            existing[item.id] = merged
        results.append(Upserted(item.id, created=current is None, changed=merged is not current))
    if fresh:
        await conn.execute(customers.insert(), [customer_row(c) for c in fresh.values()])
    return results


async def mark_undeliverable(
    conn: AsyncConnection, customer_id: str, channel: str, address: str
) -> None:
    """Mark ``address`` as failed hard on ``channel``, in the caller's transaction.

    An unknown customer is left alone (the UPDATE matches nothing).
    """
    current = await conn.scalar(
        select(customers.c.undeliverable).where(customers.c.id == customer_id)
    )
    marks = with_undeliverable(dict(current or {}), channel, address)
    await conn.execute(
        update(customers).where(customers.c.id == customer_id).values(undeliverable=marks)
    )

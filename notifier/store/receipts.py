"""Webhooks already acted on, and unsubscribe links revoked: small facts keyed by id."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select

from notifier.store.base import StoreBase
from notifier.store.tables import LinkRevocationRow, WebhookReceiptRow

webhook_receipts = cast(Table, WebhookReceiptRow.__table__)  # type: ignore[attr-defined]
link_revocations = cast(Table, LinkRevocationRow.__table__)  # type: ignore[attr-defined]


class ReceiptQueries(StoreBase):
    async def first_receipt(self, key: str, now: datetime) -> bool:
        """Record webhook ``key``; True the first time, False for a replay.

        The primary key decides, so two copies racing each other cannot both be first.
        """
        statement = (
            self.dialect.insert(webhook_receipts)
            .values(key=key, received_at=now)
            .on_conflict_do_nothing()
            .returning(webhook_receipts.c.key)
        )
        async with self.transaction() as conn:
            return await conn.scalar(statement) is not None

    async def drop_receipt(self, key: str) -> None:
        """Forget webhook ``key``, so that the provider's retry is acted on (handling failed)."""
        async with self.transaction() as conn:
            await conn.execute(delete(webhook_receipts).where(webhook_receipts.c.key == key))

    async def revoke_links(self, customer_id: str, now: datetime) -> None:
        """Make every unsubscribe link issued to the customer until ``now`` stop working."""
        insert = self.dialect.insert(link_revocations)
        statement = insert.values(customer_id=customer_id, revoked_at=now).on_conflict_do_update(
            index_elements=["customer_id"], set_={"revoked_at": now}
        )
        async with self.transaction() as conn:
            await conn.execute(statement)

    async def links_revoked_at(self, customer_id: str) -> datetime | None:
        """Return when the customer's links were last revoked, or None (never)."""
        async with self.reading() as conn:
            query = select(link_revocations.c.revoked_at).where(
                link_revocations.c.customer_id == customer_id
            )
            value = await conn.scalar(query)
            return cast(datetime | None, value)

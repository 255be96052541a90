"""What providers tell us after a send: delivery reports, and who wrote in from an address."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.consequences import (
    CustomerEffect,
    MarkUndeliverable,
    RecordOptOut,
    after_report,
)
from notifier.domain.models import ChannelName, Customer
from notifier.domain.outcomes import DeliveryOutcome, Outcome
from notifier.store.base import StoreBase
from notifier.store.claims import apply_changes, to_notification
from notifier.store.convert import customers, notifications, to_customer
from notifier.store.customers import mark_undeliverable
from notifier.store.reports import set_consent


class DeliveryQueries(StoreBase):
    async def record_delivery(self, report: Outcome, now: datetime) -> DeliveryOutcome:
        """Apply a classified status callback to the notifications it names.

        ``domain/consequences.after_report`` decides; this reads the rows, writes its
        changes and applies its effects in one transaction. Unknown ids change nothing.
        """
        async with self.transaction() as conn:
            query = select(notifications).where(notifications.c.provider_id == report.provider_id)
            query = self.dialect.locked(query)
            rows = [to_notification(r) for r in (await conn.execute(query)).mappings()]
            if not rows:
                return DeliveryOutcome()
            after = after_report(rows, report, now)
            await apply_changes(conn, list(after.changes), now)
            if after.delivered:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id.in_(after.delivered))
                    .values(delivered_at=now)
                )
            await apply_customer_effects(conn, after.effects, now)
        return DeliveryOutcome(
            found=tuple(n.id for n in rows),
            moved_on=tuple(c.id for c in after.changes if c.fail_channel is not None),
            delivered=after.delivered,
            customer_id=rows[0].customer_id,
            channel=rows[0].channel,
            address_failed=any(isinstance(e, MarkUndeliverable) for e in after.effects),
            opted_out=any(isinstance(e, RecordOptOut) for e in after.effects),
        )

    async def apply_effects(self, effects: Sequence[CustomerEffect], now: datetime) -> None:
        """Apply what an outcome means for customers' addresses and consent, in one go."""
        if effects:
            async with self.transaction() as conn:
                await apply_customer_effects(conn, effects, now)

    async def customers_by_number(self, channel: ChannelName, number: str) -> list[Customer]:
        """Return the customers whose ``channel`` address is ``number`` (E.164, no prefix).

        A WhatsApp message from a customer without a WhatsApp number of their own matches
        their phone, as routing sends WhatsApp to the phone in that case.
        """
        if channel == "sms":
            match = customers.c.phone == number
        else:
            match = or_(
                customers.c.whatsapp == number,
                and_(customers.c.whatsapp.is_(None), customers.c.phone == number),
            )
        async with self.reading() as conn:
            rows = (await conn.execute(select(customers).where(match))).mappings()
            return [to_customer(r) for r in rows]

    async def customers_by_email(self, address: str) -> list[Customer]:
        """Return the customers whose email is ``address``, compared case-insensitively."""
        match = func.lower(customers.c.email) == address.lower()
        async with self.reading() as conn:
            rows = (await conn.execute(select(customers).where(match))).mappings()
            return [to_customer(r) for r in rows if (r["email"] or "").lower() == address.lower()]


async def apply_customer_effects(
    conn: AsyncConnection, effects: Sequence[CustomerEffect], now: datetime
) -> None:
    """Mark dead addresses undeliverable and record opt-outs, in the caller's transaction."""
    for e in effects:
        if isinstance(e, MarkUndeliverable):
            await mark_undeliverable(conn, e.customer_id, e.channel, e.address)
        else:
            await set_consent(conn, e.customer_id, e.channel, False, now)

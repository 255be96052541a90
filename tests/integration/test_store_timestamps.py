"""Every timestamp the store hands back is aware UTC, whatever the session's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from notifier.domain.ingest import CustomerData
from notifier.domain.models import CustomerId
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.convert import customers
from notifier.store.store import Store
from tests.conftest import FakeClock


async def test_timestamps_come_back_aware_utc(store: Store, clock: FakeClock) -> None:
    await Ledger(store, clock).put_customers(
        [CustomerData(CustomerId("c-1"), {"locale": "es", "timezone": "America/Lima"})]
    )
    async with store.reading() as conn:
        if store.dialect.name != "sqlite":  # asyncpg must not follow the session's zone
            await conn.execute(text("SET TIME ZONE 'America/Sao_Paulo'"))
        (created,) = (await conn.execute(select(customers.c.created_at))).one()
    assert created.utcoffset() == timedelta(0) and created.tzinfo in (UTC, UTC)
    assert created == clock.now()


async def test_a_naive_timestamp_is_refused(store: Store) -> None:
    async with store.transaction() as conn:
        with pytest.raises(StatementError, match="naive datetime"):
            await conn.execute(
                customers.update()
                .values(updated_at=datetime(2026, 1, 1))
                .where(customers.c.id == "x")
            )

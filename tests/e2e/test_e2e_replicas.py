"""Two ``notifier run`` replicas on one PostgreSQL: each customer's late orders, one message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes, rows
from tests.e2e.daemon import daytime_zone, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
CUSTOMERS = 16


async def test_two_replicas_send_each_customer_one_consolidated_message(
    postgres_url: str, make_daemon: DaemonFactory, fakes: Fakes
) -> None:
    now = datetime.now(UTC)
    # Claims of 3 rows: one customer's two rows would often fall in two claims, two replicas.
    small = {"NOTIFIER_DISPATCH_BATCH_SIZE": "3"}
    first, second = make_daemon(postgres_url, **small), make_daemon(postgres_url, **small)
    first.start()
    second.start()
    await asyncio.gather(first.ready(), second.ready())
    zone = daytime_zone(now)
    phones = {f"c-{i}": f"+54911555{i:05d}" for i in range(CUSTOMERS)}
    for i, (cid, phone) in enumerate(phones.items()):
        daemon = first if i % 2 == 0 else second  # the API of either replica takes writes
        await daemon.customer(cid, phone=phone, name="Ana Pérez", locale="es-AR", timezone=zone)
        for j in range(2):
            await daemon.promise(cid, f"order-{i}-{j}", now + timedelta(hours=1))
    # Both orders of each customer turn late at once (each replica keeps its own test clock).
    await first.advance("3h")
    await second.advance("3h")

    await wait_for(
        lambda: all(fakes.sms_to(p) for p in phones.values()), "a message to every customer"
    )

    async def settled() -> bool:
        found = await rows(postgres_url)
        return bool(found) and not any(r["status"] in ("pending", "sending") for r in found)

    await wait_for(settled, "the outbox settled")
    await first.advance("1m")  # both have scanned and looked at the outbox again since
    await second.advance("1m")
    await wait_for(settled, "the outbox settled again")
    sent = {cid: len(fakes.sms_to(phone)) for cid, phone in phones.items()}
    assert sent == dict.fromkeys(phones, 1), sent  # both orders in one message, once
    assert await first.stop() == 0
    assert await second.stop() == 0

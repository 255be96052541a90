"""``forget`` erases the customer's personal data from every table, and ids are not addresses.

The search reads every text and JSON column of every table the schema has, so a column
added later is searched too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import JSON, String, Text, select
from structlog.testing import capture_logs

from notifier.domain.ingest import CustomerData, InteractionData
from notifier.domain.models import CustomerId, Direction
from notifier.domain.ops_notices import inbound_reply_notice
from notifier.domain.outbox import Scheduled
from notifier.store.store import Store
from notifier.store.tables import metadata
from tests.conftest import FakeClock
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig
from tests.integration.test_import import cli, counts, write_rows

__all__ = ["cli"]  # the fixture, imported for pytest

# The Twilio fake refuses this number quoting it (21211), and the SMTP fake this address.
PHONE = "+15005550001"
EMAIL = "nobody@example.com"
NAME = "Zoraida Quintanilla"
NEEDLES = (PHONE, PHONE.removeprefix("+1"), EMAIL, *NAME.split())


async def personal_data_left(store: Store) -> list[str]:
    """Return ``table.column: value`` for every stored text that quotes a needle."""
    found: list[str] = []
    async with store.reading() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in (await conn.execute(select(*columns))).mappings():
                for name, value in row.items():
                    text = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    )
                    if any(needle in text for needle in NEEDLES):
                        found.append(f"{table.name}.{name}: {text}")
    return found


def logged_personal_data(logs: list[dict[str, Any]]) -> list[str]:
    lines = [json.dumps(entry, ensure_ascii=False, default=str) for entry in logs]
    return [line for line in lines if any(needle in line for needle in NEEDLES)]


async def test_forget_leaves_no_phone_email_or_name_in_any_table(rig: Rig) -> None:
    with capture_logs() as logs:
        await rig.customer("c-1", last_used="sms", name=NAME, phone=PHONE, email=EMAIL)
        said = f"soy {NAME}, mi número es {PHONE} y mi correo {EMAIL}"
        await rig.ledger.add_interactions(
            [InteractionData(CustomerId("c-1"), "sms", Direction.INBOUND, rig.clock.now(), said)]
        )
        await rig.promise("c-1", "order-1", timedelta(hours=-2))
        await rig.customer("c-2", phone="+5491155550102")  # someone else, left alone
        await rig.promise("c-2", "order-2", timedelta(hours=-2))
        await rig.tick()
        # The SMS failed quoting the number; the email fallback failed quoting the address.
        before = await personal_data_left(rig.store)
        assert any(PHONE in line for line in before if line.startswith("notification"))
        assert any(EMAIL in line for line in before if line.startswith("notification"))

        report = await rig.ledger.forget("c-1")
        assert (report.interactions, report.promises) == (2, 1)

    assert await personal_data_left(rig.store) == []
    assert logged_personal_data(logs) == []
    other = await rig.store.get_customer("c-2")
    assert other is not None and other.name == "Ana Pérez" and other.phone == "+5491155550102"
    forgotten = await rig.store.get_customer("c-1")
    assert forgotten is not None and forgotten.forgotten


async def test_forget_erases_the_replies_forwarded_to_ops_that_name_them(rig: Rig) -> None:
    await rig.customer("c-1", last_used="sms", name=NAME, phone=PHONE)
    await rig.customer("c-2", phone="+5491155550102")
    now = rig.clock.now()
    found = await rig.store.get_customers(["c-1", "c-2"])
    said = f"soy {NAME}, llamen al {PHONE}"
    theirs = inbound_reply_notice("sms", PHONE, said, [found["c-1"]], "SM1", now)
    other = inbound_reply_notice("sms", "+5491155550102", "hola", [found["c-2"]], "SM2", now)
    await rig.store.enqueue([Scheduled(theirs, now), Scheduled(other, now)], now)
    await rig.dispatcher.dispatch_until_idle()
    assert any(
        line.startswith("notifications.body") for line in await personal_data_left(rig.store)
    )

    report = await rig.ledger.forget("c-1")

    assert report.notifications == 1
    assert await personal_data_left(rig.store) == []
    kept = await rig.store.list_notifications()
    assert [r.notification.body is not None for r in kept] == [True, False]  # c-2's, then c-1's
    assert {r.notification.audience for r in kept} == {"ops"}


# -- ids are opaque references, not addresses ------------------------------------------------


async def test_the_api_refuses_an_email_shaped_customer_id(api: httpx.AsyncClient) -> None:
    r = await api.put("/v1/customers/ana@example.com", json={"name": "Ana"})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["field"] == "customer_id" and "not addresses" in error["message"]
    r = await api.post(
        "/v1/promises",
        json={"customer_id": "ana@example.com", "kind": "delivery", "due_at": "2026-12-02T10:00Z"},
    )
    assert r.status_code == 422 and "customer_id" in r.text and "not addresses" in r.text
    # "@" on its own is still an id character: a tenant-scoped reference is no address.
    assert (await api.put("/v1/customers/acme@42", json={"name": "Ana"})).status_code == 201


async def test_a_customer_stored_under_an_address_can_still_be_forgotten(
    api: httpx.AsyncClient, store: Store, clock: FakeClock
) -> None:
    ledger_row = CustomerData(CustomerId("old@example.com"), {"name": "Old", "email": EMAIL})
    await store.upsert_customers(
        [ledger_row], clock.now(), default_locale="es", default_tz="America/Bogota"
    )
    assert (await api.get("/v1/customers/old@example.com")).status_code == 200
    assert (await api.delete("/v1/customers/old@example.com")).status_code == 200


async def test_the_cli_refuses_an_email_shaped_customer_id(cli: Cli) -> None:
    code, _, err = await cli("customer", "add", "ana@example.com", "--name", "Ana")
    assert code == 2
    assert "ID" in err and "not addresses" in err


async def test_import_refuses_an_email_shaped_customer_id(cli: Cli, tmp_path: Path) -> None:
    rows = [{"id": "ana@example.com", "name": "Ana"}, {"id": "c-9", "name": "Nueve"}]
    code, out, err = await cli("import", write_rows(tmp_path / "c.jsonl", rows))
    assert code == 1  # some rows were bad
    assert counts(out + err)[1] == 1 and counts(out + err)[4] == 1
    assert "id" in out + err and "not addresses" in out + err

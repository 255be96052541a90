"""A customer's country on SQLite and PostgreSQL: API, ``customer add --country``, the
import column, and the country read off the phone number when none is given."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from notifier.store.store import Store
from tests.integration.cli_runner import Cli

ANA = {"name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires"}


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    return Cli(capsys)


@pytest.mark.parametrize(
    "value", ["XX", "XK", "EU", "ARG", "419", "", "A"], ids=lambda v: v or "empty"
)
async def test_a_country_that_is_no_iso_code_is_422_naming_the_field(
    api: httpx.AsyncClient, value: str
) -> None:
    r = await api.put("/v1/customers/c-1", json={**ANA, "country": value})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == ["country"]
    assert (await api.get("/v1/customers/c-1")).status_code == 404


async def test_the_api_keeps_a_stated_country_and_infers_one_from_the_phone(
    api: httpx.AsyncClient, store: Store
) -> None:
    r = await api.put("/v1/customers/c-1", json={**ANA, "phone": "+5491155551234"})
    assert r.status_code in (200, 201), r.text
    shown = (await api.get("/v1/customers/c-1")).json()
    assert (shown["country"], shown["country_inferred"]) == ("AR", True)

    r = await api.put("/v1/customers/c-1", json={"country": "uy"})  # capitals are stored
    assert r.status_code == 200, r.text
    shown = (await api.get("/v1/customers/c-1")).json()
    assert (shown["country"], shown["country_inferred"]) == ("UY", False)
    stored = await store.get_customer("c-1")
    assert stored is not None and (stored.country, stored.home_country) == ("UY", "UY")

    await api.put("/v1/customers/c-2", json={**ANA, "email": "kim@example.org"})
    shown = (await api.get("/v1/customers/c-2")).json()
    assert (shown["country"], shown["country_inferred"]) == (None, False)


async def test_customer_add_country(cli: Cli) -> None:
    code, out, _ = await cli("customer", "add", "c-1", "--name", "João", "--country", "BR")
    assert (code, out.strip()) == (0, "created customer c-1")
    code, out, _ = await cli("customer", "show", "c-1", "--json")
    assert json.loads(out)["country"] == "BR"
    code, out, _ = await cli("customer", "add", "c-2", "--name", "Lu", "--phone", "+525512345678")
    code, out, _ = await cli("customer", "show", "c-2")
    assert "country MX (from the phone)" in out
    code, _, err = await cli("customer", "add", "c-3", "--name", "X", "--country", "Narnia")
    assert code == 2 and "'--country'" in err and "ISO 3166" in err


async def test_the_import_country_column(cli: Cli, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "id,name,phone,country\n"
        "c-1,Ana,+5491155551234,CL\n"
        "c-2,Juan,+5491155551235,\n"
        "c-3,Kim,,Mordor\n"
    )
    code, _, err = await cli("import", path)
    assert code == 1
    assert err.startswith(f"{path}:4: country: "), err
    ana, juan = await store.get_customer("c-1"), await store.get_customer("c-2")
    assert ana is not None and juan is not None
    assert (ana.country, ana.home_country) == ("CL", "CL")
    assert (juan.country, juan.home_country) == (None, "AR")

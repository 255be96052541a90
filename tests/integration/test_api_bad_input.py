"""Out-of-range input at the API on SQLite and PostgreSQL: a 422 naming the field, never a 500.

NUL characters and NaN are PostgreSQL's failures (SQLite takes them), dates of year 1 or
9999 and ids past int64 overflow on both; each is refused before the store sees it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from notifier.api.app import create_app
from notifier.api.deps import Services
from notifier.config import Settings
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.integration.conftest import AUTH

ANA = {"name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires"}
PROMISE = {
    "customer_id": "c-1",
    "kind": "refund",
    "due_at": "2026-11-25T12:00:00-03:00",
    "external_ref": "rf-1",
    "attributes": {"amount": 1999.9, "currency": "ARS"},
}
BIG = str(2**63)

BAD_CUSTOMERS = [
    pytest.param("name", "Ana\x00Pérez", id="nul-in-name"),
    pytest.param("timezone", "Factory", id="zone-factory"),
    pytest.param("timezone", "localtime", id="zone-localtime"),
    pytest.param("timezone", "posixrules", id="zone-posixrules"),
    pytest.param("timezone", "Japan", id="zone-one-word-alias"),
    pytest.param("timezone", "EST5EDT", id="zone-rule-only"),
    pytest.param("locale", "root", id="locale-root"),
    pytest.param("locale", "und", id="locale-undetermined"),
    pytest.param("locale", "C", id="locale-posix-c"),
    pytest.param("consent", {"sms\x00": True}, id="nul-in-consent-key"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), BAD_CUSTOMERS)
async def test_bad_customer_values_are_422_naming_the_field(
    api: httpx.AsyncClient, field: str, value: object
) -> None:
    r = await api.put("/v1/customers/c-1", json={**ANA, field: value})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field]
    assert (await api.get("/v1/customers/c-1")).status_code == 404  # nothing half-written


BAD_PROMISES = [
    pytest.param("due_at", "9999-12-31T23:00:00Z", "outside", id="year-9999"),
    pytest.param("due_at", "9999-12-31T23:00:00-03:00", "outside", id="year-9999-overflows"),
    pytest.param("due_at", "0001-01-01T00:00:00+01:00", "outside", id="year-1-overflows"),
    pytest.param("due_at", "1969-12-31T23:59:59Z", "outside", id="before-1970"),
    pytest.param("due_at", "2200-01-01T00:00:00Z", "outside", id="from-2200"),
    pytest.param("due_at", "20261201", "ISO 8601", id="digits-not-epoch"),
    pytest.param("due_at", 1764590400, "not read as a time", id="number"),
    pytest.param("due_at", 1764590400.5, "not read as a time", id="float"),
    pytest.param("due_at", "2026-12-01", "ISO 8601", id="date-without-time"),
    pytest.param("due_at", "2026-12-01T10:00:00", "timezone", id="no-offset"),
    pytest.param("window_start", "0001-01-01T00:00:00Z", "outside", id="window-year-1"),
    pytest.param("estimate_at", 0, "not read as a time", id="estimate-number"),
    pytest.param("external_ref", "rf\x00-1", "NUL", id="nul-in-ref"),
    pytest.param("customer_id", "c-1\x00", "NUL", id="nul-in-customer-id"),
    pytest.param("attributes", {"note": "a\x00b"}, "note: contains a NUL", id="nul-in-value"),
    pytest.param("attributes", {"a\x00b": 1}, "NUL", id="nul-in-key"),
    pytest.param("attributes", {"lines": [{"sku": ["x", "y\x00"]}]}, "lines.0.sku.1",
                 id="nul-nested"),
    pytest.param("attributes", {"weight": float("nan")}, "weight: nan", id="nan"),
    pytest.param("attributes", {"w": [float("inf")]}, "w.0: inf", id="infinity-nested"),
    pytest.param("attributes", {"amount": 1e27}, "amount: ", id="amount-1e27"),
    pytest.param("attributes", {"amount": 10**15}, "too large", id="amount-at-limit"),
    pytest.param("attributes", {"amount": -(10**15)}, "too large", id="amount-negative-limit"),
    pytest.param("attributes", {"amount": "12,5"}, "not a number", id="amount-not-a-number"),
    pytest.param("attributes", {"amount": 1.23456}, "decimals", id="amount-decimals"),
    pytest.param("attributes", {"amount": True}, "must be a number", id="amount-boolean"),
    pytest.param("attributes", {"amount": {"value": 1}}, "must be a number", id="amount-object"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "words"), BAD_PROMISES)
async def test_bad_promise_values_are_422_naming_the_field(
    api: httpx.AsyncClient, field: str, value: object, words: str
) -> None:
    await api.put("/v1/customers/c-1", json=ANA)
    # httpx refuses NaN in json=: the body is written by hand, as json.dumps writes it.
    body = json.dumps({**PROMISE, field: value})
    r = await api.post("/v1/promises", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["field"] == field
    assert words in error["message"], error
    assert (await api.get("/v1/promises")).json() == []  # nothing half-written


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/v1/interactions", {"customer_id": "c-1", "channel": "sms",
                     "direction": "inbound", "body": "hola\x00"}, id="nul-in-body"),
        pytest.param("/v1/interactions", {"customer_id": "c-1", "channel": "sms",
                     "direction": "inbound", "at": "9999-12-31T23:00:00-03:00"}, id="at-9999"),
        pytest.param("/v1/interactions", {"customer_id": "c-1", "channel": "sms",
                     "direction": "inbound", "at": 1764590400}, id="at-number"),
    ],
)  # fmt: skip
async def test_bad_interactions_are_422(
    api: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    await api.put("/v1/customers/c-1", json=ANA)
    r = await api.post(path, json=body)
    assert r.status_code == 422, r.text
    field = next(k for k in ("body", "at") if k in body)
    assert [e["field"] for e in r.json()["detail"]] == [field]


async def test_a_reschedule_out_of_range_is_422(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/c-1", json=ANA)
    promise = (await api.post("/v1/promises", json=PROMISE)).json()
    for due in ("9999-12-31T23:00:00-03:00", "20261201", 1764590400):
        r = await api.post(f"/v1/promises/{promise['id']}/reschedule", json={"due_at": due})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "due_at"
    assert (await api.get(f"/v1/promises/{promise['id']}")).json()["deadline_version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        pytest.param("GET", f"/v1/promises/{BIG}", "promise_id", id="get-promise"),
        pytest.param("POST", f"/v1/promises/{BIG}/keep", "promise_id", id="keep"),
        pytest.param("POST", f"/v1/promises/{BIG}/cancel", "promise_id", id="cancel"),
        pytest.param("GET", f"/v1/promises/{10**30}", "promise_id", id="huge"),
        pytest.param("GET", f"/v1/promises?after={BIG}", "after", id="after"),
        pytest.param("GET", "/v1/promises?after=-1", "after", id="after-negative"),
        pytest.param("GET", f"/v1/notifications/{BIG}", "notification_id", id="notification"),
        pytest.param("GET", f"/v1/notifications?before={BIG}", "before", id="before"),
    ],
)
async def test_ids_past_int64_are_422(
    api: httpx.AsyncClient, method: str, path: str, field: str
) -> None:
    r = await api.request(method, path)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == [field]


async def test_the_largest_int64_id_is_a_plain_404(api: httpx.AsyncClient) -> None:
    r = await api.get(f"/v1/promises/{2**63 - 1}")
    assert r.status_code == 404
    r = await api.get("/v1/notifications", params={"before": 2**63 - 1})
    assert (r.status_code, r.json()) == (200, [])


async def test_values_at_the_edges_of_the_bounds_are_accepted(api: httpx.AsyncClient) -> None:
    await api.put("/v1/customers/c-1", json={**ANA, "timezone": "UTC", "locale": "en"})
    edges = [
        ("1970-01-01T00:00:00Z", "999999999999999.9999"),
        ("2199-12-31T23:59:59Z", -999_999_999_999_999),
        ("2100-06-01T00:00:00Z", 15999.9),
        ("2026-12-01T10:00:00+05:30", "120.50"),
    ]
    for n, (due, amount) in enumerate(edges):
        body = {
            **PROMISE,
            "due_at": due,
            "external_ref": f"e-{n}",
            "attributes": {"amount": amount},
        }
        r = await api.post("/v1/promises", json=body)
        assert r.status_code == 201, r.text
    for n, zone in enumerate(["Etc/UTC", "Etc/GMT+3", "US/Eastern"]):
        r = await api.put(f"/v1/customers/c-{n + 2}", json={**ANA, "timezone": zone})
        assert r.status_code == 201, r.text


async def test_the_test_clock_advance_is_bounded(store: Store, clock: FakeClock) -> None:
    settings = Settings(api_token=SecretStr("test-token"), test_mode=True)
    svc = Services(
        settings=settings, store=store, clock=clock, ledger=Ledger(store, clock),
        advance_clock=clock.advance,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notifier.test", headers=AUTH
    ) as api:
        for advance in ("99999999999d", "3661d", "0s", "soon"):
            r = await api.post("/v1/test/clock", json={"advance": advance})
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["field"] == "advance"
        start = clock.now()
        r = await api.post("/v1/test/clock", json={"advance": "3660d"})
        assert r.status_code == 200, r.text
        assert clock.now() == start + timedelta(days=3660)
        clock.current = clock.now().replace(year=2199)
        r = await api.post("/v1/test/clock", json={"advance": "400d"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "advance"
        assert clock.now().year == 2199

"""The ingest API on SQLite and PostgreSQL: idempotent, validated, nothing half-written."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import FakeClock

ANA = {
    "name": "Ana Pérez",
    "locale": "es-AR",
    "timezone": "America/Argentina/Buenos_Aires",
    "phone": "+5491155551234",
    "email": "ana@example.com",
}


async def _customer(api: httpx.AsyncClient, cid: str = "c-1", **extra: object) -> None:
    r = await api.put(f"/v1/customers/{cid}", json={**ANA, **extra})
    assert r.status_code in (200, 201), r.text


async def _promise(api: httpx.AsyncClient, **extra: object) -> dict[str, object]:
    body = {
        "customer_id": "c-1",
        "kind": "delivery",
        "due_at": "2026-11-25T12:00:00-03:00",
        "external_ref": "order-1",
        "attributes": {"carrier": "andreani", "order_id": "A-1"},
        **extra,
    }
    r = await api.post("/v1/promises", json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def test_customer_create_then_update_keeps_absent_fields(api: httpx.AsyncClient) -> None:
    r = await api.put("/v1/customers/c-1", json=ANA)
    assert r.status_code == 201
    assert r.json()["phone"] == "+5491155551234"
    r = await api.put("/v1/customers/c-1", json={"name": "Ana P."})
    assert r.status_code == 200
    got = (await api.get("/v1/customers/c-1")).json()
    assert got["name"] == "Ana P." and got["email"] == "ana@example.com"
    assert got["locale"] == "es-AR"
    assert got["consent"] == {"sms": True, "whatsapp": True, "email": True, "x": True}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("phone", "1155551234", id="phone-not-e164"),
        pytest.param("phone", "+540000", id="phone-invalid"),
        pytest.param("email", "ana@@example", id="email"),
        pytest.param("timezone", "Mars/Olympus", id="timezone"),
        pytest.param("locale", "xx-YY-zz", id="locale"),
        pytest.param("preferred_channel", "fax", id="channel"),
        pytest.param("nickname", "Anita", id="unknown-field"),
    ],
)
async def test_bad_customer_payload_is_422_naming_the_field(
    api: httpx.AsyncClient, field: str, value: str
) -> None:
    r = await api.put("/v1/customers/c-1", json={**ANA, field: value})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["detail"]] == [field]
    assert (await api.get("/v1/customers/c-1")).status_code == 404  # nothing half-written


async def test_auth_is_required(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/customers/c-1", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = await api.get("/healthz", headers={"Authorization": ""})
    assert r.status_code == 200


async def test_promise_is_idempotent_on_external_ref(api: httpx.AsyncClient) -> None:
    await _customer(api)
    r1 = await api.post(
        "/v1/promises",
        json={"customer_id": "c-1", "kind": "delivery", "due_at": "2026-11-25T15:00:00Z",
              "external_ref": "order-1"},
    )  # fmt: skip
    r2 = await api.post(
        "/v1/promises",
        json={"customer_id": "c-1", "kind": "delivery", "due_at": "2026-11-25T15:00:00Z",
              "external_ref": "order-1"},
    )  # fmt: skip
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["id"] == r2.json()["id"]
    events = (await api.get(f"/v1/promises/{r1.json()['id']}")).json()["events"]
    assert [e["type"] for e in events] == ["created"]


async def test_unknown_customer_is_404(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/promises",
        json={"customer_id": "nobody", "kind": "delivery", "due_at": "2026-11-25T15:00:00Z"},
    )
    assert r.status_code == 404
    assert "nobody" in r.json()["detail"]


async def test_changed_due_at_is_a_reschedule(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await _customer(api)
    p = await _promise(api)
    clock.advance(timedelta(hours=1))
    moved = await _promise(api, due_at="2026-11-26T12:00:00-03:00")
    assert moved["id"] == p["id"] and moved["external_ref"] == "order-1"
    assert moved["deadline_version"] == 2 and moved["times_broken"] == 1
    assert moved["next_check_at"] == clock.now().isoformat()
    events = (await api.get(f"/v1/promises/{p['id']}")).json()["events"]
    assert [e["type"] for e in events] == ["created", "rescheduled"]
    assert events[1]["data"]["old_due_at"] == "2026-11-25T15:00:00+00:00"
    assert events[1]["data"]["new_due_at"] == "2026-11-26T15:00:00+00:00"


async def test_keep_cancel_and_reschedule(api: httpx.AsyncClient) -> None:
    await _customer(api)
    p = await _promise(api)
    r = await api.post(
        f"/v1/promises/{p['id']}/reschedule",
        json={"due_at": "2026-11-26T12:00:00-03:00", "window_start": "2026-11-26T09:00:00-03:00"},
    )
    assert r.status_code == 200 and r.json()["window_start"] == "2026-11-26T12:00:00+00:00"
    assert (await api.post(f"/v1/promises/{p['id']}/keep")).json()["status"] == "kept"
    assert (await api.post(f"/v1/promises/{p['id']}/keep")).status_code == 200  # idempotent
    r = await api.post(f"/v1/promises/{p['id']}/cancel")
    assert r.status_code == 409
    r = await api.post(f"/v1/promises/{p['id']}/reschedule", json={"due_at": "2026-12-01T00:00Z"})
    assert r.status_code == 409
    assert (await api.post("/v1/promises/999999/keep")).status_code == 404


async def test_window_must_end_after_it_starts(api: httpx.AsyncClient) -> None:
    await _customer(api)
    r = await api.post(
        "/v1/promises",
        json={"customer_id": "c-1", "kind": "appointment", "due_at": "2026-11-25T09:00:00Z",
              "window_start": "2026-11-25T12:00:00Z"},
    )  # fmt: skip
    assert r.status_code == 422
    assert "window_start" in r.json()["detail"][0]["message"]


async def test_naive_time_is_refused(api: httpx.AsyncClient) -> None:
    await _customer(api)
    r = await api.post(
        "/v1/promises",
        json={"customer_id": "c-1", "kind": "delivery", "due_at": "2026-11-25T09:00:00"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "due_at"


async def test_last_used_channel_follows_the_newest_inbound(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _customer(api)
    base = clock.now()
    for channel, direction, minutes in [
        ("email", "inbound", 10),
        ("whatsapp", "inbound", 30),
        ("sms", "outbound", 40),  # outbound never counts
        ("x", "inbound", 20),  # older than the WhatsApp one, arriving late
    ]:
        at = (base + timedelta(minutes=minutes)).isoformat()
        r = await api.post(
            "/v1/interactions",
            json={"customer_id": "c-1", "channel": channel, "direction": direction, "at": at},
        )
        assert r.status_code == 201, r.text
    assert (await api.get("/v1/customers/c-1")).json()["last_used_channel"] == "whatsapp"


async def test_list_filters_and_pages(api: httpx.AsyncClient) -> None:
    await _customer(api)
    await _customer(api, "c-2")
    for i in range(5):
        await _promise(api, external_ref=f"o-{i}", customer_id="c-1" if i < 3 else "c-2")
    r = await api.get("/v1/promises", params={"customer": "c-1", "status": "open", "limit": 2})
    first = r.json()
    assert [p["external_ref"] for p in first] == ["o-0", "o-1"]
    r = await api.get("/v1/promises", params={"customer": "c-1", "after": first[-1]["id"]})
    assert [p["external_ref"] for p in r.json()] == ["o-2"]
    assert (await api.get("/v1/promises", params={"status": "lost"})).status_code == 422


async def test_timeline_and_forget(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await _customer(api)
    p = await _promise(api)
    clock.advance(timedelta(minutes=5))
    await api.post(
        "/v1/interactions",
        json={"customer_id": "c-1", "channel": "sms", "direction": "inbound", "body": "hola"},
    )
    clock.advance(timedelta(minutes=5))
    await api.post(f"/v1/promises/{p['id']}/keep")
    timeline = (await api.get("/v1/customers/c-1/timeline")).json()
    assert [e["type"] for e in timeline] == ["promise.kept", "interaction", "promise.created"]

    r = await api.delete("/v1/customers/c-1")
    assert r.status_code == 200 and r.json()["promises"] == 1
    got = (await api.get("/v1/customers/c-1")).json()
    assert got["forgotten"] is True
    assert (got["name"], got["phone"], got["email"]) == (None, None, None)
    kept = (await api.get(f"/v1/promises/{p['id']}")).json()
    assert kept["attributes"] == {} and kept["status"] == "kept"  # the count survives
    assert (await api.delete("/v1/customers/nobody")).status_code == 404

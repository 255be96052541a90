"""A purged promise's ref cannot come back: the API and ``notifier import`` refuse it."""

from __future__ import annotations

from pathlib import Path

import httpx

from notifier.domain.models import Source
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.integration.cli_runner import Cli
from tests.integration.rig import Rig
from tests.integration.test_import import PROMISES, cli, counts, write_rows
from tests.integration.test_retention import LATER, RETENTION, late_promise, quiet

__all__ = ["cli"]  # the fixture, imported for pytest


async def test_the_api_refuses_a_purged_ref_naming_the_field(
    api: httpx.AsyncClient, rig: Rig, store: Store, clock: FakeClock
) -> None:
    customer = {"name": "Ana", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires",
                "phone": "+5491155551234"}  # fmt: skip
    assert (await api.put("/v1/customers/c-1", json=customer)).status_code == 201
    body = {"customer_id": "c-1", "kind": "delivery", "due_at": "2026-11-25T15:00:00Z",
            "external_ref": "order-1"}  # fmt: skip
    created = await api.post("/v1/promises", json=body)
    assert created.status_code == 201, created.text
    assert (await api.post(f"/v1/promises/{created.json()['id']}/keep")).status_code == 200
    await quiet(rig)  # the kept promise's last check
    clock.advance(LATER)
    now = clock.now()
    assert (await store.purge(now - RETENTION, now)).promises == 1

    again = await api.post("/v1/promises", json=body)

    assert again.status_code == 422, again.text
    (problem,) = again.json()["detail"]
    assert problem["field"] == "external_ref" and "NOTIFIER_RETENTION" in problem["message"]


async def test_a_reimport_of_an_old_file_counts_the_purged_row_bad(
    rig: Rig, cli: Cli, tmp_path: Path
) -> None:
    kept = await late_promise(rig, "c-1", "ord-1")
    await rig.ledger.keep(kept, Source.API)
    await quiet(rig)
    rig.clock.advance(LATER)
    await quiet(rig)  # its last check
    now = rig.clock.now()
    assert (await rig.store.purge(now - RETENTION, now)).promises == 1
    old = [{**PROMISES[0], "customer_id": "c-1", "external_ref": "ord-1"},
           {**PROMISES[0], "customer_id": "c-1", "external_ref": "ord-2"}]  # fmt: skip

    code, out, err = await cli("import", write_rows(tmp_path / "old.jsonl", old))

    assert code == 1 and counts(out) == (2, 1, 0, 0, 1), (out, err)
    assert "external_ref" in err and "NOTIFIER_RETENTION" in err
    assert {p.external_ref for p in await rig.store.list_promises()} == {"ord-2"}

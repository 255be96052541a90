"""``notifier import`` refuses out-of-range values as the API does: ``file:line: field: why``.

On SQLite and PostgreSQL (NUL and NaN are PostgreSQL's failures); the good rows around a
bad one still land.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier.store.store import Store
from tests.integration.cli_runner import Cli
from tests.integration.test_import import CUSTOMERS, counts, write_rows


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    return Cli(capsys)


GOOD = {"customer_id": "c-1", "kind": "refund", "due_at": "2026-12-01T10:00:00Z"}

JSONL_BAD = [
    ({"due_at": 1764590400}, "due_at: Input should be a valid datetime"),
    ({"due_at": "20261201"}, "due_at: Input should be a valid datetime"),
    ({"due_at": "9999-12-31T23:00:00-03:00"}, "due_at: 9999-12-31T23:00:00-03:00 is outside"),
    ({"window_start": "0001-01-01T00:00:00Z"}, "window_start: 0001-01-01T00:00:00+00:00 is"),
    ({"external_ref": "rf\u0000x"}, "external_ref: contains a NUL character"),
    ({"attributes": {"notes": ["ok", {"x": "a\u0000"}]}}, "attributes: notes.1.x: contains a NUL"),
    ({"attributes": {"weight": float("nan")}}, "attributes: weight: nan is not a number"),
    ({"attributes": {"amount": 1e27}}, "attributes: amount: 1e+27 is too large"),
]  # fmt: skip


async def test_out_of_range_json_lines_are_refused_by_line(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    await cli("import", write_rows(tmp_path / "c.jsonl", CUSTOMERS))
    rows = [{**GOOD, "external_ref": "ok-0"}]
    rows += [
        {**GOOD, "external_ref": f"bad-{n}", **change} for n, (change, _) in enumerate(JSONL_BAD)
    ]
    rows.append({**GOOD, "external_ref": "ok-1", "attributes": {"amount": 15999.9}})
    path = tmp_path / "p.jsonl"
    # json.dumps writes NaN as the bare word, as other tools do; the import must refuse it.
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    code, out, err = await cli("import", path)

    assert code == 1
    assert counts(out) == (len(rows), 2, 0, 0, len(JSONL_BAD))
    lines = err.splitlines()
    assert len(lines) == len(JSONL_BAD)
    for number, (got, (_, reason)) in enumerate(zip(lines, JSONL_BAD, strict=True), start=2):
        assert got.startswith(f"{path}:{number}: {reason}"), got
    assert {p.external_ref for p in await store.list_promises()} == {"ok-0", "ok-1"}


CSV_BAD = (
    "customer_id,kind,due_at,external_ref,attributes.amount\n"  # 1
    "c-1,refund,2026-12-01T10:00:00Z,ok-0,120.50\n"  # 2
    "c-1,refund,20261201,bad-1,1\n"  # 3
    "c-1,refund,1764590400,bad-2,1\n"  # 4
    "c-1,refund,9999-12-31T23:00:00Z,bad-3,1\n"  # 5
    "c-1,refund,2026-12-01T10:00:00Z,bad-4,1e27\n"  # 6
    "c-1,refund,2026-12-01T10:00:00Z,bad-5,NaN\n"  # 7
    "c-1,refund,2026-12-01T10:00:00Z,bad\x00-6,1\n"  # 8
    "c-1,refund,2026-12-01T10:00:00Z,ok-1,\n"  # 9
)
CSV_LINES = [
    (3, "due_at: Input should be a valid datetime"),
    (4, "due_at: Input should be a valid datetime"),
    (5, "due_at: 9999-12-31T23:00:00+00:00 is outside"),
    (6, "attributes: amount: '1e27' is too large"),
    (7, "attributes: amount: 'NaN' is not a finite number"),
    (8, "external_ref: contains a NUL character"),
]


async def test_out_of_range_csv_cells_are_refused_by_line(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    await cli("import", write_rows(tmp_path / "c.jsonl", CUSTOMERS))
    path = tmp_path / "p.csv"
    path.write_text(CSV_BAD)

    code, out, err = await cli("import", path)

    assert code == 1
    assert counts(out) == (8, 2, 0, 0, 6)
    lines = err.splitlines()
    assert len(lines) == len(CSV_LINES)
    for got, (line, reason) in zip(lines, CSV_LINES, strict=True):
        assert got.startswith(f"{path}:{line}: {reason}"), got
    assert {p.external_ref for p in await store.list_promises()} == {"ok-0", "ok-1"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param({"id": "c-9", "timezone": "Factory"}, "timezone: 'Factory' is not a region",
                     id="zone-factory"),
        pytest.param({"id": "c-9", "timezone": "localtime"}, "timezone: 'localtime' is not",
                     id="zone-localtime"),
        pytest.param({"id": "c-9", "locale": "root"}, "locale: unknown locale 'root'",
                     id="locale-root"),
        pytest.param({"id": "c-9", "name": "Ana\u0000"}, "name: contains a NUL", id="nul-name"),
    ],
)  # fmt: skip
async def test_bad_customer_values_are_refused_by_line(
    cli: Cli, store: Store, tmp_path: Path, row: dict[str, str], reason: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "c-8", "name": "Ok"}) + "\n" + json.dumps(row) + "\n")
    code, out, err = await cli("import", path)
    assert (code, counts(out)) == (1, (2, 1, 0, 0, 1))
    assert err.strip().startswith(f"{path}:2: {reason}"), err
    assert await store.get_customer("c-9") is None

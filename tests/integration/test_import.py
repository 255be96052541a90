"""``notifier import`` on SQLite and PostgreSQL: every kind in CSV and JSON Lines, bad rows
by line, exit codes, and a re-import that changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from notifier.engine.ingest.import_files import Format, open_source
from notifier.engine.ingest.importer import Tally, import_records
from notifier.engine.ingest.ledger_service import Ledger
from notifier.schemas import ImportKind
from notifier.store.convert import customers, interactions, promise_events, promises
from notifier.store.store import Store
from tests.conftest import FakeClock
from tests.integration.cli_runner import Cli

Row = Mapping[str, object]

CUSTOMERS: list[Row] = [
    {"id": "c-1", "name": "Ana Pérez", "phone": "+5491155551234", "email": "ana@example.com",
     "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires",
     "consent": {"sms": True, "x": False}},
    {"id": "c-2", "name": "João Silva, Jr.", "whatsapp": "+5511987654321", "x_user_id": "12345",
     "locale": "pt-BR", "timezone": "America/Sao_Paulo", "preferred_channel": "whatsapp"},
    {"id": "c-3", "name": 'Kim "K" Lee\nsecond line', "email": "kim@example.org"},
]  # fmt: skip
PROMISES: list[Row] = [
    {"customer_id": "c-1", "kind": "delivery", "due_at": "2026-12-01T12:00:00-03:00",
     "window_start": "2026-12-01T09:00:00-03:00", "external_ref": "ord-1",
     "attributes": {"carrier": "andreani", "region": "AMBA"}},
    {"customer_id": "c-2", "kind": "refund", "due_at": "2026-12-05T10:00:00Z",
     "estimate_at": "2026-12-04T10:00:00Z", "external_ref": "rf-7"},
    {"customer_id": "c-1", "kind": "callback", "due_at": "2026-11-25T15:00:00+00:00",
     "external_ref": "cb-3", "attributes": {"agent": "mora"}},
]  # fmt: skip
INTERACTIONS: list[Row] = [
    {"customer_id": "c-1", "channel": "whatsapp", "direction": "inbound",
     "at": "2026-11-20T10:00:00Z", "body": "¿dónde está mi pedido?"},
    {"customer_id": "c-1", "channel": "sms", "direction": "outbound",
     "at": "2026-11-20T11:00:00Z"},
    {"customer_id": "c-2", "channel": "email", "direction": "inbound",
     "at": "2026-11-21T08:30:00Z"},
]  # fmt: skip
DATA: dict[ImportKind, list[Row]] = {
    "customers": CUSTOMERS,
    "promises": PROMISES,
    "interactions": INTERACTIONS,
}
SUMMARY = re.compile(
    r"imported (\d+) rows from \S+: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) bad"
)


def write_rows(path: Path, rows: Sequence[Row]) -> Path:
    """Write ``rows`` (the API's shape) as CSV with dotted columns, or as JSON Lines."""
    if not rows:
        path.write_text("")
        return path
    if path.suffix != ".csv":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return path
    flat = [_flatten(r) for r in rows]
    columns = list(dict.fromkeys(c for r in flat for c in r))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(flat)
    return path


def _flatten(row: Row) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": _cell(v) for k, v in value.items()})
        else:
            flat[key] = str(value)
    return flat


def _cell(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    return Cli(capsys)


def counts(out: str) -> tuple[int, ...]:
    found = SUMMARY.search(out)
    assert found, out
    return tuple(int(n) for n in found.groups())


async def table_count(store: Store, table: object) -> int:
    async with store.reading() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".ndjson"])
@pytest.mark.parametrize("kind", ["customers", "promises", "interactions"])
async def test_every_kind_lands_and_a_reimport_changes_nothing(
    cli: Cli, store: Store, tmp_path: Path, kind: ImportKind, suffix: str
) -> None:
    if kind != "customers":
        assert (await cli("import", write_rows(tmp_path / "c.jsonl", CUSTOMERS)))[0] == 0
    path = write_rows(tmp_path / f"{kind}{suffix}", DATA[kind])

    code, out, err = await cli("import", path)
    assert (code, err) == (0, "")
    assert counts(out) == (3, 3, 0, 0, 0)
    events = await table_count(store, promise_events)
    code, out, err = await cli("import", path, "--kind", kind, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "file": str(path), "kind": kind, "format": "csv" if suffix == ".csv" else "jsonl",
        "rows": 3, "created": 0, "updated": 0, "unchanged": 3, "bad": 0,
    }  # fmt: skip
    assert await table_count(store, promise_events) == events


async def test_imported_fields_match_the_api_shape(cli: Cli, store: Store, tmp_path: Path) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    await cli("import", write_rows(tmp_path / "p.csv", PROMISES))
    await cli("import", write_rows(tmp_path / "i.jsonl", INTERACTIONS))

    ana = await store.get_customer("c-1")
    assert ana is not None
    assert (ana.name, ana.phone, ana.locale, ana.last_used_channel) == (
        "Ana Pérez", "+5491155551234", "es-AR", "whatsapp",
    )  # fmt: skip
    assert ana.opted_out == frozenset({"x"})
    kim = await store.get_customer("c-3")
    assert kim is not None and kim.name == 'Kim "K" Lee\nsecond line'
    assert kim.timezone == "America/Argentina/Buenos_Aires"  # the default for a new customer
    (delivery, *_) = await store.list_promises(customer_id="c-1")
    assert delivery.external_ref == "ord-1"
    assert delivery.due_at == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert delivery.window_start == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert dict(delivery.attributes) == {"carrier": "andreani", "region": "AMBA"}
    assert [e.source for e in await store.promise_events(delivery.id)] == ["import"]


async def test_an_empty_cell_keeps_the_stored_value(cli: Cli, store: Store, tmp_path: Path) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    sparse = tmp_path / "update.csv"
    sparse.write_text("id,name,phone,email\nc-1,,,ana.perez@example.com\n")
    code, out, _ = await cli("import", sparse)
    assert (code, counts(out)) == (0, (1, 0, 1, 0, 0))
    ana = await store.get_customer("c-1")
    assert ana is not None
    assert (ana.name, ana.phone, ana.email) == (
        "Ana Pérez", "+5491155551234", "ana.perez@example.com",
    )  # fmt: skip


async def test_a_changed_due_date_reschedules(cli: Cli, store: Store, tmp_path: Path) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    await cli("import", write_rows(tmp_path / "p.csv", PROMISES))
    moved = [{**PROMISES[1], "due_at": "2026-12-09T10:00:00Z"}, PROMISES[2]]
    code, out, _ = await cli("import", write_rows(tmp_path / "p2.jsonl", moved))
    assert (code, counts(out)) == (0, (2, 0, 1, 1, 0))
    (refund,) = await store.list_promises(customer_id="c-2")
    assert (refund.deadline_version, refund.times_broken) == (2, 1)


BAD_PROMISES = (
    "customer_id,kind,due_at,external_ref,attributes.note\n"  # 1
    'c-1,delivery,2026-12-01T10:00:00Z,o-1,"first\n'  # 2
    'second"\n'  # 3
    "c-1,Delivery,2026-12-01T10:00:00Z,o-2,x\n"  # 4
    "c-1,delivery,2026-12-01T10:00:00Z,,x\n"  # 5
    'c-404,delivery,2026-12-01T10:00:00Z,o-3,"a\n'  # 6
    "b\n"  # 7
    'c"\n'  # 8
    "\n"  # 9
    "c-1,delivery,soon,o-4,x\n"  # 10
    "c-1,delivery,2026-12-02T10:00:00Z,o-5\n"  # 11
    "c-1,delivery,2026-12-02T10:00:00Z,o-6,ok\n"  # 12
    'c-1,delivery,2026-12-02T10:00:00Z,o-7,"bad"quote\n'  # 13
    "c-1,delivery,2026-12-03T10:00:00Z,o-8,\n"  # 14
)
BAD_LINES = [
    (4, "kind: invalid kind 'Delivery'"),
    (5, "external_ref: required in an import"),
    (6, "customer_id: unknown customer 'c-404'"),
    (10, "due_at: Input should be a valid datetime"),
    (11, "4 values for 5 columns"),
    (13, "malformed CSV"),
]


@pytest.mark.parametrize("batch_size", ["1000", "2"])
async def test_bad_rows_are_reported_by_line_and_good_rows_land(
    cli: Cli, store: Store, tmp_path: Path, batch_size: str
) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    path = tmp_path / "promises.csv"
    path.write_text(BAD_PROMISES)

    code, out, err = await cli("import", path, "--batch-size", batch_size)

    assert code == 1
    assert counts(out) == (9, 3, 0, 0, 6)
    lines = err.splitlines()
    assert len(lines) == len(BAD_LINES)
    for got, (line, reason) in zip(lines, BAD_LINES, strict=True):
        assert got.startswith(f"{path}:{line}: {reason}"), got
    refs = {p.external_ref for p in await store.list_promises(customer_id="c-1")}
    assert refs == {"o-1", "o-6", "o-8"}
    (first,) = [p for p in await store.list_promises() if p.external_ref == "o-1"]
    assert first.attributes == {"note": "first\nsecond"}


async def test_bad_json_lines_are_reported_by_line(cli: Cli, tmp_path: Path) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    path = tmp_path / "touch.jsonl"
    good = json.dumps(INTERACTIONS[0])
    path.write_text(
        f"{good}\n"
        "{not json}\n"
        "\n"
        "[1, 2]\n"
        '{"customer_id": "c-1", "channel": "fax", "direction": "inbound",'
        ' "at": "2026-11-20T10:00:00Z"}\n'
        '{"customer_id": "c-1", "channel": "sms", "direction": "inbound"}\n'
        '{"customer_id": "c-1", "channel": "sms", "direction": "in",'
        ' "at": "2026-11-20T10:00:00Z", "x": 1}\n'
    )  # fmt: skip
    code, out, err = await cli("import", path)
    assert (code, counts(out)) == (1, (6, 1, 0, 0, 5))
    assert err.splitlines() == [
        f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes at column 2",
        f"{path}:4: expected a JSON object, got an array",
        f"{path}:5: channel: Input should be 'sms', 'whatsapp', 'email' or 'x'",
        f"{path}:6: at: required in an import, so that importing the file again does not "
        "record the touchpoint twice",
        f"{path}:7: direction: Input should be 'inbound' or 'outbound'; x: Extra inputs are "
        "not permitted",
    ]


@pytest.mark.parametrize(
    ("name", "text", "args", "code", "message"),
    [
        pytest.param("c.csv", "id,nmae\nc-1,Ana\n", [], 1, "c.csv:1: unknown column 'nmae' for "
                     "customers (did you mean 'name'?)", id="unknown-column"),
        pytest.param("c.csv", "id,consent.smss\nc-1,no\n", [], 1, "c.csv:1: unknown channel in "
                     "column 'consent.smss' (did you mean 'sms'?)", id="unknown-consent-channel"),
        pytest.param("p.csv", "customer_id,kind,due_at\nc-1,delivery,2026-12-01T10:00:00Z\n", [],
                     1, "p.csv:1: missing column 'external_ref'", id="missing-ref-column"),
        pytest.param("x.csv", "customer_id\nc-1\n", [], 1,
                     "x.csv:1: cannot tell customers, promises or interactions", id="no-kind"),
        pytest.param("x.jsonl", '{"customer_id": "c-1", "kind": "x", "channel": "sms"}\n', [], 1,
                     "x.jsonl:1: cannot tell customers", id="ambiguous-json"),
        pytest.param("c.csv", "id,due_at\n", ["--kind", "customers"], 1,
                     "c.csv:1: unknown column 'due_at' for customers", id="kind-mismatch"),
        pytest.param("c.txt", "id\n", [], 2, "cannot tell the format of", id="unknown-extension"),
        pytest.param("c.csv", "id\n", ["--kind", "orders"], 2, "'orders' is not one of",
                     id="bad-kind"),
        pytest.param("c.csv", "id\n", ["--format", "xml"], 2, "'xml' is not one of",
                     id="bad-format"),
        pytest.param("c.csv", b"id,name\nc-1,\xff\n", [], 1, "c.csv:2: not UTF-8 text",
                     id="not-utf8"),
    ],
)  # fmt: skip
async def test_file_problems_are_one_line(
    cli: Cli, tmp_path: Path, name: str, text: str | bytes, args: list[str], code: int,
    message: str,
) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    got, _, err = await cli("import", name if code == 2 else path, *args)
    assert got == code
    assert len(err.strip().splitlines()) == 1
    assert message.replace(name, str(path)) in err or message in err, err


async def test_missing_file_and_empty_file(cli: Cli, tmp_path: Path) -> None:
    code, _, err = await cli("import", tmp_path / "nope.csv")
    assert code == 1 and "no such file" in err
    (tmp_path / "empty.jsonl").write_text("")
    code, out, err = await cli("import", tmp_path / "empty.jsonl")
    assert (code, counts(out), err) == (0, (0, 0, 0, 0, 0), "")


async def test_stdin_needs_a_format(
    cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = await cli("import", "-")
    assert code == 2 and "needs --format" in err
    text = "".join(json.dumps(r) + "\n" for r in CUSTOMERS)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    code, out, err = await cli("import", "-", "--format", "jsonl")
    assert (code, err) == (0, "")
    assert out.startswith("imported 3 rows from <stdin>: 3 created")
    assert await store.count_customers() == 3


async def test_a_reimported_interaction_is_unchanged_even_with_a_new_body(
    cli: Cli, store: Store, tmp_path: Path
) -> None:
    await cli("import", write_rows(tmp_path / "c.csv", CUSTOMERS))
    await cli("import", write_rows(tmp_path / "i.csv", INTERACTIONS))
    again = [{**INTERACTIONS[0], "body": "otra cosa"}, INTERACTIONS[0]]
    code, out, _ = await cli("import", write_rows(tmp_path / "i2.csv", again))
    assert (code, counts(out)) == (0, (2, 0, 0, 2, 0))
    assert await table_count(store, interactions) == 3


# The property: whatever valid rows a file holds, importing it a second time leaves every
# table exactly as the first import left it.

PHONES = ["+5491155551234", "+5511987654321", "+14155552671", "+34612345678", "+525512345678"]
ZONES = ["America/Argentina/Buenos_Aires", "America/Sao_Paulo", "Europe/Madrid", "UTC"]
text_values = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), include_characters='\n\t,"'), max_size=20
).filter(str.strip)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
ids = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
customer_rows = st.lists(
    st.fixed_dictionaries(
        {"id": ids},
        optional={
            "name": text_values,
            "phone": st.sampled_from(PHONES),
            "locale": st.sampled_from(["es", "es-AR", "en", "pt-BR"]),
            "timezone": st.sampled_from(ZONES),
            "consent": st.dictionaries(
                st.sampled_from(["sms", "email", "whatsapp", "x"]), st.booleans()
            ),
        },
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda r: r["id"],
)


@st.composite
def ledger_files(draw: st.DrawFn) -> dict[ImportKind, list[dict[str, object]]]:
    people = draw(customer_rows)
    who = st.sampled_from([str(c["id"]) for c in people])
    promise = st.fixed_dictionaries(
        {
            "customer_id": who,
            "kind": st.sampled_from(["delivery", "refund", "callback"]),
            "due_at": instants.map(datetime.isoformat),
            "external_ref": ids,
        },
        optional={"attributes": st.dictionaries(ids, text_values, max_size=3)},
    )
    touch = st.fixed_dictionaries(
        {
            "customer_id": who,
            "channel": st.sampled_from(["sms", "email", "whatsapp", "x"]),
            "direction": st.sampled_from(["inbound", "outbound"]),
            "at": instants.map(datetime.isoformat),
        },
        optional={"body": text_values},
    )
    return {
        "customers": people,
        "promises": draw(st.lists(promise, max_size=8, unique_by=lambda r: r["external_ref"])),
        "interactions": draw(st.lists(touch, max_size=8)),
    }


async def snapshot(store: Store) -> list[list[tuple[object, ...]]]:
    tables = [customers, promises, promise_events, interactions]
    async with store.reading() as conn:
        return [
            [tuple(r) for r in await conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        ]


async def import_file(ledger: Ledger, path: Path, fmt: Format) -> Tally:
    tally = Tally()
    with path.open("rb") as stream:
        source = open_source(stream, fmt, None)
        async for report in import_records(ledger, source, batch_size=3):
            tally += report.tally
    return tally


_examples = itertools.count()
KEYS = ("id", "customer_id", "external_ref")


def tagged(rows: list[dict[str, object]], tag: str) -> list[dict[str, object]]:
    """Return ``rows`` with their keys made unique to one example (the database is shared)."""
    return [{k: f"{tag}{v}" if k in KEYS else v for k, v in r.items()} for r in rows]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=ledger_files(), fmt=st.sampled_from(["csv", "jsonl"]))
def test_importing_twice_leaves_the_database_identical(
    db_url: str, tmp_path: Path, files: dict[ImportKind, list[dict[str, object]]], fmt: Format
) -> None:
    tag = f"e{next(_examples)}-"
    paths = [
        write_rows(tmp_path / f"{kind}.{fmt}", tagged(rows, tag)) for kind, rows in files.items()
    ]
    clock = FakeClock()

    async def go() -> None:
        store = Store.open(db_url)
        ledger = Ledger(store, clock)
        try:
            for path in paths:
                assert (await import_file(ledger, path, fmt)).bad == 0
            before = await snapshot(store)
            # A later clock: anything written again would carry a new updated_at.
            clock.advance(timedelta(hours=1))
            for path in paths:
                again = await import_file(ledger, path, fmt)
                assert (again.created, again.updated, again.bad) == (0, 0, 0)
            assert await snapshot(store) == before
        finally:
            await store.close()

    asyncio.run(go())

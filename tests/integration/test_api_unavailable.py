"""503, not 500: the API on a real store whose database goes away, fills up or turns read-only.

Each failure is the real thing: a SQLite directory moved away, a SQLite file on a full
filesystem, a PostgreSQL database dropped with FORCE or turned read-only under the pool.
The caller gets 503 with Retry-After and a JSON error; the log gets one structured line.
Anything else unexpected (a schema that drifted from the code) is a JSON 500.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from structlog.testing import capture_logs

from notifier.api.app import create_app
from notifier.api.deps import Services
from notifier.config import Settings
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.store import Store
from tests.conftest import _PG_DSN, FakeClock, pg_url_for
from tests.integration.conftest import AUTH, TOKEN

ANA = {"name": "Ana Pérez", "locale": "es-AR", "timezone": "America/Argentina/Buenos_Aires"}
PROMISE = {"customer_id": "c-1", "kind": "delivery", "due_at": "2026-11-25T12:00:00-03:00"}


@contextlib.asynccontextmanager
async def client_on(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    clock = FakeClock()
    settings = Settings(api_token=SecretStr(TOKEN))
    svc = Services(settings=settings, store=store, clock=clock, ledger=Ledger(store, clock))
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://notifier.test", headers=AUTH
    ) as client:
        yield client


def assert_unavailable(r: httpx.Response, logs: list[dict[str, object]]) -> None:
    """A 503 with Retry-After and a JSON error, and exactly one structured log line."""
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert r.json() == {"detail": "the database is unavailable; try again later"}
    assert "Traceback" not in r.text
    (line,) = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "api.unavailable"
    assert line["method"] in ("GET", "PUT", "POST") and str(line["path"]).startswith("/v1/")
    assert "exc_info" not in line and "exception" not in line
    assert "Traceback" not in json.dumps(line, default=str)


@pytest.fixture
def sqlite_dir(sqlite_template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "notifier.db")
    return folder


async def test_sqlite_directory_gone_is_503_and_recovers(sqlite_dir: Path) -> None:
    store = Store.open(f"sqlite+aiosqlite:///{sqlite_dir / 'notifier.db'}")
    try:
        async with client_on(store) as api:
            assert (await api.put("/v1/customers/c-1", json=ANA)).status_code == 201
            await store.close()  # the pool's open files would still reach the moved inode
            moved = sqlite_dir.with_name("moved")
            move(sqlite_dir, moved)
            for method, path, body in [
                ("GET", "/v1/customers/c-1", None),
                ("PUT", "/v1/customers/c-2", ANA),
                ("POST", "/v1/promises", PROMISE),
            ]:
                with capture_logs() as logs:
                    r = await api.request(method, path, json=body)
                assert_unavailable(r, logs)
            move(moved, sqlite_dir)
            assert (await api.get("/v1/customers/c-1")).status_code == 200
    finally:
        await store.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: a real filesystem that fills up. Needs the right to mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full; return it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def move(source: Path, target: Path) -> None:
    source.rename(target)


async def test_sqlite_disk_full_is_503_and_recovers(
    sqlite_template: Path, small_disk: Path
) -> None:
    shutil.copyfile(sqlite_template, small_disk / "notifier.db")
    store = Store.open(f"sqlite+aiosqlite:///{small_disk / 'notifier.db'}")
    try:
        async with client_on(store) as api:
            assert (await api.put("/v1/customers/c-1", json=ANA)).status_code == 201
            filler = fill(small_disk)
            big = {**PROMISE, "external_ref": "big", "attributes": {"note": "x" * 200_000}}
            with capture_logs() as logs:
                r = await api.post("/v1/promises", json=big)
            assert_unavailable(r, logs)
            assert "full" in str(logs[-1]["reason"])
            filler.unlink()
            r = await api.post("/v1/promises", json=big)
            assert r.status_code == 201, r.text
    finally:
        await store.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def pg_database(pg_template: str) -> AsyncIterator[str]:
    name = f"notifier_gone_{os.getpid()}"
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield name
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.postgres
async def test_postgres_database_dropped_is_503(pg_database: str) -> None:
    store = Store.open(pg_url_for(pg_database))
    try:
        async with client_on(store) as api:
            assert (await api.put("/v1/customers/c-1", json=ANA)).status_code == 201
            await _admin(f"DROP DATABASE {pg_database} WITH (FORCE)")  # its sessions end too
            for method, path, body in [
                ("GET", "/v1/customers/c-1", None),
                ("POST", "/v1/promises", PROMISE),
            ]:
                with capture_logs() as logs:
                    r = await api.request(method, path, json=body)
                assert_unavailable(r, logs)
                # The store words the driver's 3D000 (database does not exist), URL included.
                assert f'database "{pg_database}" does not exist' in str(logs[-1]["reason"])
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_turned_read_only_refuses_writes_with_503(pg_database: str) -> None:
    store = Store.open(pg_url_for(pg_database))
    try:
        async with client_on(store) as api:
            assert (await api.put("/v1/customers/c-1", json=ANA)).status_code == 201
            # What a failover onto a standby looks like from here: the sessions are cut and
            # the new ones may read, not write.
            await _admin(f"ALTER DATABASE {pg_database} SET default_transaction_read_only = on")
            await _admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{pg_database}' AND pid <> pg_backend_pid()"
            )
            assert (await api.get("/v1/customers/c-1")).status_code == 200
            with capture_logs() as logs:
                r = await api.post("/v1/promises", json=PROMISE)
            assert_unavailable(r, logs)
            assert "25006" in str(logs[-1]["reason"])
    finally:
        await store.close()


async def test_an_unexpected_error_is_a_json_500_logged_without_a_traceback(
    store: Store, db_url: str
) -> None:
    async with client_on(store) as api:
        assert (await api.put("/v1/customers/c-1", json=ANA)).status_code == 201
        # A schema that drifted from the code: the query is wrong, not the database down.
        async with store.transaction() as conn:
            await conn.execute(text("ALTER TABLE customers RENAME COLUMN name TO full_name"))
        await store.close()
        with capture_logs() as logs:
            r = await api.get("/v1/customers/c-1")
    assert r.status_code == 500, r.text
    assert r.json() == {"detail": "internal error"}
    assert "Retry-After" not in r.headers
    (line,) = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "api.internal_error"
    assert line["path"] == "/v1/customers/c-1"
    frames = line["frames"]
    assert isinstance(frames, list) and frames
    assert all(set(f) == {"file", "line", "function"} for f in frames)
    assert "Traceback" not in json.dumps(line, default=str)
    assert "SELECT" not in str(line["error"])  # the statement (and its parameters) stay out

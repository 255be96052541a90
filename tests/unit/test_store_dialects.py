"""The store's dialect choice and the files kept beside a SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.store.connect import database_file
from notifier.store.dialects import dialect_for_url, dialect_named
from notifier.store.single_writer import DaemonLock

PG = "postgresql+asyncpg://user:secret@db.example:5432/notifier"


def test_the_url_picks_the_dialect() -> None:
    assert dialect_for_url("sqlite+aiosqlite:///./notifier.db").name == "sqlite"
    assert dialect_for_url(PG).name == "postgresql"
    assert dialect_for_url("sqlite+aiosqlite:///x.db").scan_writes_in_flight == 1
    assert dialect_for_url(PG).scan_writes_in_flight == 2


def test_an_unknown_dialect_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no dialect for database 'mysql'"):
        dialect_named("mysql")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("sqlite+aiosqlite:///data/notifier.db", Path("data/notifier.db"), id="file"),
        pytest.param("sqlite+aiosqlite:///:memory:", None, id="memory"),
        pytest.param("sqlite+aiosqlite://", None, id="no-database"),
        pytest.param(PG, None, id="postgres"),
    ],
)
def test_database_file(url: str, expected: Path | None) -> None:
    assert database_file(url) == expected


def test_the_daemon_lock_sits_beside_a_sqlite_file_only(tmp_path: Path) -> None:
    db = tmp_path / "notifier.db"
    assert DaemonLock.for_url(f"sqlite+aiosqlite:///{db}").path == db.with_name("notifier.db.lock")
    assert DaemonLock.for_url("sqlite+aiosqlite:///:memory:").path is None
    assert DaemonLock.for_url(PG).path is None

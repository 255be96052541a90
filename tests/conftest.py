"""Fixtures shared by every test: databases cloned from a migrated template, a fake clock.

Each test gets its own database: a copy of a migrated SQLite file, or a PostgreSQL
database created from a migrated template (``CREATE DATABASE ... TEMPLATE``). Names
carry the process id so that several test runs on one server never collide.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import structlog

from notifier.store.migrate import upgrade
from notifier.store.store import Store

PG_URL = os.environ.get("NOTIFIER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_PG_DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
_counter = itertools.count()


class FakeClock:
    """A clock the test moves by hand; nothing sleeps for a schedule."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put back the logging state that ``configure_logging`` changes for the whole process."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = threading.excepthook, sys.unraisablehook
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    threading.excepthook, sys.unraisablehook = hooks
    logging.captureWarnings(False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pg_url_for(name: str) -> str:
    """Return the SQLAlchemy URL of database ``name`` on the test server."""
    return PG_URL.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_PG_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"notifier_tpl_{os.getpid()}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    upgrade(pg_url_for(name))
    yield name
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "notifier.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def postgres_url(pg_template: str) -> AsyncIterator[str]:
    name = f"notifier_t_{os.getpid()}_{next(_counter)}"
    await _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    yield pg_url_for(name)
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store.open(db_url)
    yield s
    await s.close()

"""Migrations reach head on an empty database, match the models, and go back down."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from notifier.store.connect import make_engine
from notifier.store.migrate import (
    alembic_config,
    downgrade,
    head_revisions,
    is_current,
    upgrade,
)
from notifier.store.tables import metadata
from tests.conftest import _admin, pg_url_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"notifier_mig_{os.getpid()}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield pg_url_for(name)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _diff(conn: Connection) -> list[object]:
    return list(
        compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    )


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def _inspect(url: str) -> tuple[list[object], set[str]]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
        tables = await conn.run_sync(_tables)
    await engine.dispose()
    return diff, tables


# SQLite cannot reflect an expression index (ix_customers_email_lower): alembic skips it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_head_matches_the_models_and_downgrade_empties(empty_url: str) -> None:
    upgrade(empty_url)
    diff, tables = asyncio.run(_inspect(empty_url))
    assert diff == []
    assert set(metadata.tables) <= tables

    downgrade(empty_url, "base")
    _, tables = asyncio.run(_inspect(empty_url))
    assert tables <= {"alembic_version"}

    upgrade(empty_url)  # and back up again: the downgrade left nothing behind
    diff, _ = asyncio.run(_inspect(empty_url))
    assert diff == []


def test_is_current_follows_upgrade_and_downgrade(empty_url: str) -> None:
    async def current() -> bool:
        engine = make_engine(empty_url)
        try:
            return await is_current(engine)
        finally:
            await engine.dispose()

    assert not asyncio.run(current())  # no version table yet
    upgrade(empty_url)
    assert asyncio.run(current())
    downgrade(empty_url, "base")
    assert not asyncio.run(current())


def test_heads_are_alembics_heads() -> None:
    config = alembic_config("sqlite://")
    assert head_revisions() == set(ScriptDirectory.from_config(config).get_heads())


def test_heads_of_branches_and_merges_are_alembics(tmp_path: Path) -> None:
    scripts = {  # a -> b -> (c, d) -> merge e; f branches off a and stays a head
        "a": "None", "b": "'a'", "c": "'b'", "d": "'b'", "e": "('c', 'd')", "f": "'a'",
    }  # fmt: skip
    (tmp_path / "versions").mkdir()
    for rev, down in scripts.items():
        annotated = "revision: str" if rev in "ace" else "revision"
        (tmp_path / "versions" / f"{rev}_step.py").write_text(
            f'"""{rev}"""\n{annotated} = {rev!r}\ndown_revision = {down}\n'
            "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    pass\n"
        )
    (tmp_path / "versions" / "__init__.py").write_text("")
    assert head_revisions(tmp_path) == {"e", "f"}
    assert head_revisions(tmp_path) == set(ScriptDirectory(str(tmp_path)).get_heads())

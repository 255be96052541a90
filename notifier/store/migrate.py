"""Run Alembic from code: ``notifier db upgrade`` and the tests share this."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    """Return the Alembic folder: NOTIFIER_MIGRATIONS_DIR when set, else the one beside the
    package (a checkout, an editable install), else ./migrations (the Docker image)."""
    candidates = [
        os.environ.get("NOTIFIER_MIGRATIONS_DIR"),
        Path(__file__).resolve().parents[2] / "migrations",
        Path.cwd() / "migrations",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "the migrations folder was not found: run from the project folder or set "
        "NOTIFIER_MIGRATIONS_DIR"
    )


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration aimed at ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (blocking)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (blocking)."""
    command.downgrade(alembic_config(url), revision)


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database behind ``engine`` is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

    def current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(current) == head

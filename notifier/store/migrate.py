"""Run Alembic from code: ``notifier db upgrade`` and the tests share this.

Alembic is imported only where a migration runs: importing it costs ~150 ms (its
package imports every dialect and tomllib), paid by every start of ``notifier run``,
which only asks whether the database is at the newest revision: is_current reads
that from the scripts and the version table directly.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py keeps it


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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (blocking)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (blocking)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revisions(folder: Path | None = None) -> frozenset[str]:
    """Return the newest revisions: those no other script names as its down_revision.

    Read from each script's ``revision`` and ``down_revision`` assignments, as Alembic
    reads them, without importing it (a test holds this to Alembic's own heads).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((folder or migrations_dir()).joinpath("versions").glob("*.py")):
        found = _revision_assignments(script)
        if "revision" not in found:
            continue  # not a migration (an __init__.py, which Alembic skips too)
        revisions.add(str(found["revision"]))
        down = found.get("down_revision")
        parents.update(str(d) for d in (down if isinstance(down, tuple | list) else [down]) if d)
    return frozenset(revisions - parents)


def _revision_assignments(script: Path) -> dict[str, object]:
    """Return the literal values of a script's module-level revision names."""
    found: dict[str, object] = {}
    for node in ast.parse(script.read_bytes(), str(script)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database behind ``engine`` is at the newest migration."""
    heads = head_revisions()

    def current(conn: Connection) -> set[str]:
        if not inspect(conn).has_table(VERSION_TABLE):
            return set()
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
        return {str(v) for v in rows}

    async with engine.connect() as conn:
        return await conn.run_sync(current) == heads

"""Where code may live: checks on the package's source text."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "notifier"

# What asks which database it is on: a dialect's or driver's name compared, the store's
# old flag, a URL's scheme tested, a dialect's own INSERT builder imported.
_DIALECT_TESTS = re.compile(
    r"""\bis_sqlite\b
    | dialect\.(name|driver)\s*(==|!=|\bin\b|\bnot\s+in\b)
    | \bdrivername\b
    | (==|!=)\s*["'](sqlite|postgresql|postgres|asyncpg|aiosqlite)["']
    | ["'](sqlite|postgresql|postgres|asyncpg|aiosqlite)["']\s*(==|!=)
    | \.startswith\(\s*["'](sqlite|postgres)
    | \bfrom\s+sqlalchemy\.dialects\b | \bimport\s+sqlalchemy\.dialects\b
    | \b(pg|sqlite)_insert\b
    """,
    re.VERBOSE,
)
# The settings parse and redact the database URL: the one place outside the store that
# reads a scheme (to point at a misspelt one).
_URL_SETTINGS = {"config/fields.py", "config_errors.py"}
_SQLALCHEMY = re.compile(r"^\s*(from|import)\s+(sqlalchemy|sqlmodel)\b", re.MULTILINE)


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_no_dialect_test_outside_store_dialects() -> None:
    offending = [
        f"notifier/{_relative(path)}:{n}: {line.strip()}"
        for path in _sources()
        if not _relative(path).startswith("store/dialects/")
        and _relative(path) not in _URL_SETTINGS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _DIALECT_TESTS.search(line)
    ]
    assert offending == [], "ask the store's dialect (store/dialects/) instead"


def test_no_sqlalchemy_outside_store() -> None:
    offending = [
        f"notifier/{_relative(path)}"
        for path in _sources()
        if not _relative(path).startswith("store/")
        and _relative(path) not in _URL_SETTINGS
        and _SQLALCHEMY.search(path.read_text(encoding="utf-8"))
    ]
    assert offending == [], "SQL and the database's errors stay inside notifier/store/"

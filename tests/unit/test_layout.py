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
_URL_SETTINGS = {"config/values.py", "config_errors.py"}
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


# A module name may repeat across layers only for one concern seen from each layer: the
# pure decision in domain/, its rows in store/, its route in api/, its command in cli/.
# A name that meant two things (store/engine.py beside the engine package, two
# readiness.py and two limits.py) was renamed; a new repeat must be added here with why.
_ONE_CONCERN = {
    "app": "the API's FastAPI app and the CLI's Typer app",
    "base": "each adapter package's own base (the Channel protocol, StoreBase)",
    "crisis": "the decide step's crisis stage (domain) and the crisis engine stage (engine)",
    "channels": "the channel adapters (package) and the `notifier channels` command (cli)",
    "daemon": "the daemon (engine/wiring) and its command (cli)",
    "health": "the health verdict (domain) and its route (api)",
    "incident_counts": "a fan-out's counts: their states (domain) and their GROUP BY (store)",
    "incidents": "incidents' values (domain), their rows (store), their commands (cli)",
    "ingest": "validated ledger input (domain) and its routes (api)",
    "ledger": "the ledger's rules (domain) and its commands (cli)",
    "outbox": "the outbox's values (domain) and its writes (store)",
    "ports": "each engine stage's own protocols over the store",
    "preflight": "an incident's pre-flight: its counts (domain) and its read (engine/crisis)",
    "reports": "what ops read back (domain) and its queries (store)",
    "rules": "the rules (the domain/rules package) and their commands (cli)",
    "store": "the Store class (store/store.py) in its package",
    "unsubscribe": "unsubscribe links (channels) and their pages (api)",
}


def test_module_names_repeat_only_for_one_concern() -> None:
    seen: dict[str, list[str]] = {}
    for path in _sources():  # modules, and packages by their folder's name
        stem = path.parent.name if path.name == "__init__.py" else path.stem
        if path.parent != PACKAGE or path.name != "__init__.py":
            seen.setdefault(stem, []).append(_relative(path))
    repeated = {stem for stem, paths in seen.items() if len(paths) > 1}
    assert repeated - set(_ONE_CONCERN) == set(), "a name that means two things: rename one"
    assert set(_ONE_CONCERN) - repeated == set(), "no longer repeated: drop it from the list"

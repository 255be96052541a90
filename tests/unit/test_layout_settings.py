"""Settings are handed out per concern: adapters take their group, never the whole Settings.

Only the process wiring (the CLI, the API app, the daemon and its Services) reads
``Settings`` itself and hands each part its group (notifier/config/groups.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "notifier"
# Packages whose modules take groups only.
GROUPED = ("channels", "templates", "engine")
# The engine's wiring, which hands the groups out.
WIRING = {"engine/wiring/daemon.py", "engine/wiring/jobs.py", "engine/wiring/services.py"}


def _takes_whole_settings(path: Path) -> bool:
    """True when ``path`` imports Settings (or the module defining it) from notifier.config."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        names = {alias.name for alias in node.names}
        from_config = isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "notifier.config"
        )
        if (from_config and names & {"Settings", "load_settings", "settings"}) or names & {
            "notifier.config",
            "notifier.config.settings",
        }:
            return True
    return False


@pytest.mark.parametrize("package", GROUPED)
def test_no_module_of_the_package_imports_settings(package: str) -> None:
    modules = sorted((PACKAGE / package).rglob("*.py"))
    assert modules
    offenders = {p.relative_to(PACKAGE).as_posix() for p in modules if _takes_whole_settings(p)}
    assert offenders - WIRING == set()


def test_the_wiring_is_seen_reading_settings() -> None:
    # The scan itself works: the modules that do read Settings are found.
    assert all(_takes_whole_settings(PACKAGE / name) for name in WIRING)
    assert _takes_whole_settings(PACKAGE / "cli" / "app.py")

"""Run ``notifier`` in-process, as a script would, and keep what it printed.

``cli`` (a fixture, registered in ``conftest.py``) points it at the rig's database and
instant; a module whose commands need more settings defines its own ``cli``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from notifier.cli import main
from tests.integration.rig import ROOT, Rig


class Cli:
    """Calls the CLI's ``main`` in a thread (it runs its own event loop)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, [str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *args: str) -> object:
        """Run with ``--json``; fail the test unless it exits 0."""
        code, out, err = await self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(
    rig: Rig, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The CLI on the rig's database, at the rig's instant (NOTIFIER_NOW), never the wall's."""
    cli_env(rig, db_url, monkeypatch)
    return Cli(capsys)


def cli_env(rig: Rig, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at the rig's database and its current instant, in test mode."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)
    monkeypatch.setenv("NOTIFIER_TEST_MODE", "1")
    monkeypatch.setenv("NOTIFIER_NOW", rig.clock.now().isoformat())
    monkeypatch.setenv("NOTIFIER_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("NOTIFIER_TEMPLATES_DIR", str(ROOT / "templates"))

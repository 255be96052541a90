"""Run ``notifier`` in-process, as a script would, and keep what it printed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from notifier.cli import main


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

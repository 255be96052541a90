"""The reloader: whatever the files hold, the last good set stays and the watch goes on."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.engine.rulefiles.reload import Reloader
from notifier.observability import Metrics
from notifier.store.store import Store
from notifier.templates import Renderer
from tests.conftest import FakeClock
from tests.e2e.daemon import ROOT, wait_for


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the shipped rules and templates, for a test to break."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path / "rules", tmp_path / "templates"


def _reloader(folders: tuple[Path, Path], store: Store, clock: FakeClock) -> Reloader:
    rules, templates = folders
    settings = Settings(rules_dir=str(rules), templates_dir=str(templates))
    return Reloader(settings.rules, settings.render, store, clock, Metrics())


def _count(reloader: Reloader, result: str) -> float:
    found = reloader.metrics.registry.get_sample_value(
        "notifier_rules_reloads_total", {"result": result}
    )
    return found or 0.0


async def test_a_template_that_raises_is_refused_and_the_last_good_set_stays(
    folders: tuple[Path, Path], store: Store, clock: FakeClock
) -> None:
    reloader = _reloader(folders, store, clock)
    assert reloader.load().ok
    rules, renderer = reloader.rules, reloader.renderer
    template = folders[1] / "delivery_late" / "sms.es.j2"
    template.write_text("Hola\n{{ 1 / 0 }}\n")

    assert await reloader.reload() is False

    expected = f"{template}:2:1: cannot render: ZeroDivisionError: division by zero"
    assert reloader.problems == [expected]
    assert reloader.rules is rules and reloader.renderer is renderer
    assert _count(reloader, "refused") == 1


async def test_a_failing_reload_is_logged_and_the_next_request_still_reloads(
    folders: tuple[Path, Path], store: Store, clock: FakeClock
) -> None:
    reloader = _reloader(folders, store, clock)
    assert reloader.load().ok
    swapped: list[Renderer] = []

    def swap(renderer: Renderer) -> None:
        swapped.append(renderer)
        if len(swapped) == 1:
            raise RuntimeError("the first swap fails")

    reloader.on_reload = swap
    watching = asyncio.create_task(reloader.watch())
    reloader.request()
    await wait_for(lambda: _count(reloader, "failed") == 1, "the failed reload counted")
    reloader.request()
    await wait_for(lambda: len(swapped) == 2, "the second reload")
    assert not watching.done()
    reloader.stop()
    await asyncio.wait_for(watching, 30)


async def test_a_watcher_that_cannot_arm_is_armed_again_and_sees_changes(
    folders: tuple[Path, Path], store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    reloader = _reloader(folders, store, clock)
    assert reloader.load().ok
    away = tmp_path / "away"
    folders[1].rename(away)  # watchfiles refuses a folder that is not there
    watching = asyncio.create_task(reloader.watch())
    await wait_for(lambda: _count(reloader, "watch_failed") >= 1, "the watcher's failure")
    away.rename(folders[1])
    rule_file = folders[0] / "delivery.yaml"
    text = rule_file.read_text()

    def edited() -> bool:
        # Each poll edits the file again, so the edit lands once the watcher is armed.
        rule_file.write_text(text + "\n")
        return _count(reloader, "loaded") >= 2

    await wait_for(edited, "a reload from a file change", interval=0.5)
    assert not watching.done()
    reloader.stop()
    await asyncio.wait_for(watching, 30)

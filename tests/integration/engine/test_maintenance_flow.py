"""Planned maintenance on a real store, both databases, driven by the test clock.

A file in ``rules/incidents/`` opens its incident at the start (the segment's customers
told once) and resolves it at the end (they get the resolution); not twice with two
replicas or two runs; a window the daemon was down through is missed, not opened late;
a moved end is followed; a window removed while open is resolved; a broken file on
reload keeps the last good windows.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from notifier.config import Settings
from notifier.domain.maintenance import Maintenance
from notifier.engine.crisis.maintenance_windows import MaintenanceRunner
from notifier.engine.crisis.planner import plan_incidents
from notifier.engine.planning.scanner import scan
from notifier.engine.rulefiles.check import load_rules
from notifier.engine.rulefiles.reload import Reloader
from notifier.observability import Metrics
from notifier.store.store import Store
from tests.integration.engine.test_crisis_flow import _crisis, _email_to
from tests.integration.rig import ROOT, Rig

SOURCE = "maintenance:red-2026-11"


def _file(start: datetime, end: datetime, extra: str = "") -> str:
    return f"""maintenance:
  - id: red-2026-11
    title: {{es: Mantenimiento de la red de envíos, en: Delivery network maintenance}}
    match: {{kind: delivery, attributes.carrier: [andreani]}}
    start: {start.isoformat()}
    end: {end.isoformat()}
    messages:
      opened: {{es: Hacemos un mantenimiento programado de nuestra red de envíos.}}
      updated: {{es: El mantenimiento se extiende.}}
      resolved: {{es: Terminó el mantenimiento de la red de envíos.}}
{extra}"""


def _windows(rig: Rig, tmp_path: Path, start: datetime, end: datetime) -> tuple[Maintenance, ...]:
    """Write the file under a rules folder and load it through the one checker."""
    folder = tmp_path / "rules" / "incidents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "red.yaml").write_text(_file(start, end))
    load = load_rules(tmp_path / "rules", rig.dispatcher.composer.renderer)
    assert load.rules is not None, [str(p) for p in load.problems]
    return load.maintenance


async def _tick(rig: Rig, runner: MaintenanceRunner, windows: tuple[Maintenance, ...]) -> None:
    """One daemon tick at the test clock's now: the scan's turn with the crisis part, as
    ``Daemon._crisis`` runs it, then the dispatch until idle."""
    now = rig.clock.now()

    async def crisis() -> int:
        await runner.run(windows, now)
        return await plan_incidents(rig.store, now, rig.rules.defaults.quiet_hours)

    await scan(rig.store, rig.rules, now, then=crisis)
    await rig.dispatcher.dispatch_until_idle()


async def _segment(rig: Rig) -> None:
    await rig.customer("c-1")  # two affected promises, by SMS
    await rig.promise("c-1", "A-1", timedelta(hours=8), carrier="andreani")
    await rig.promise("c-1", "A-2", timedelta(hours=9), carrier="andreani")
    await rig.customer("c-2", last_used="email", phone=None)  # one, by email
    await rig.promise("c-2", "A-3", timedelta(hours=8), carrier="andreani")
    await rig.customer("c-3", phone="+5491155550103")  # another carrier: untouched
    await rig.promise("c-3", "O-1", timedelta(hours=8), carrier="oca")


def _sent(rows: list[tuple[int, str, str]]) -> list[str]:
    return [message for _, message, status in rows if status == "sent"]


async def test_opens_at_start_resolves_at_end_and_tells_each_customer_once(
    rig: Rig, tmp_path: Path
) -> None:
    await _segment(rig)
    start = rig.clock.now() + timedelta(hours=1)
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    runner = MaintenanceRunner(rig.store, "es")
    rig.clock.advance(timedelta(minutes=59, seconds=59))
    await _tick(rig, runner, windows)
    assert await rig.store.list_incidents() == []  # a second early: nothing yet
    rig.clock.advance(timedelta(seconds=1))  # the start
    await _tick(rig, runner, windows)
    await _tick(rig, runner, windows)  # a second run opens nothing more
    [incident] = await rig.store.list_incidents()
    assert incident.opened_by == SOURCE and incident.is_open
    assert incident.latest.estimate_at == start + timedelta(hours=3)  # the end
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened"]
    assert _sent(await _crisis(rig.store, "c-2")) == ["crisis_opened"]
    assert await _crisis(rig.store, "c-3") == []
    [opening] = _email_to(rig, "c-2@example.com")
    assert "mantenimiento programado de nuestra red" in opening
    rig.clock.advance(timedelta(hours=3))  # the end
    await _tick(rig, runner, windows)
    await _tick(rig, runner, windows)
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened", "crisis_resolved"]
    assert _sent(await _crisis(rig.store, "c-2")) == ["crisis_opened", "crisis_resolved"]
    assert "Terminó el mantenimiento" in _email_to(rig, "c-2@example.com")[1]
    history = await rig.store.incident_history(incident.id)
    assert [(h.kind, h.by) for h in history] == [("opened", SOURCE), ("resolved", SOURCE)]
    assert len(rig.twilio.forms()) == 2  # c-1: the apology and the resolution


async def test_two_replicas_at_the_start_open_one_incident(
    rig: Rig, tmp_path: Path, db_url: str
) -> None:
    await _segment(rig)
    start = rig.clock.now()
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    other = Store.open(db_url)
    try:
        # Outside the scan's turn, at once: the unique source alone keeps it to one.
        await asyncio.gather(
            MaintenanceRunner(rig.store).run(windows, start),
            MaintenanceRunner(other).run(windows, start),
        )
        await _tick(rig, MaintenanceRunner(other), windows)
    finally:
        await other.close()
    assert [i.opened_by for i in await rig.store.list_incidents()] == [SOURCE]
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened"]


async def test_a_window_the_daemon_was_down_through_is_missed_and_never_opened(
    rig: Rig, tmp_path: Path
) -> None:
    await _segment(rig)
    start = rig.clock.now() + timedelta(hours=1)
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    runner = MaintenanceRunner(rig.store)
    rig.clock.advance(timedelta(hours=4))  # down from before the start to the end
    with capture_logs() as logs:
        await _tick(rig, runner, windows)
        await _tick(rig, runner, windows)
    assert await rig.store.list_incidents() == []
    missed = [e for e in logs if e["event"] == "maintenance.missed"]
    assert [(e["source"], e["log_level"]) for e in missed] == [(SOURCE, "warning")]  # once
    assert await _crisis(rig.store, "c-1") == []


async def test_down_at_the_start_and_up_before_the_end_opens_it_then(
    rig: Rig, tmp_path: Path
) -> None:
    await _segment(rig)
    start = rig.clock.now() - timedelta(hours=2)
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    runner = MaintenanceRunner(rig.store)
    await _tick(rig, runner, windows)
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened"]
    rig.clock.advance(timedelta(hours=1))
    await _tick(rig, runner, windows)
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened", "crisis_resolved"]


async def test_a_moved_end_is_followed_with_a_new_estimate(rig: Rig, tmp_path: Path) -> None:
    await _segment(rig)
    start = rig.clock.now()
    end = start + timedelta(hours=2)
    runner = MaintenanceRunner(rig.store)
    await _tick(rig, runner, _windows(rig, tmp_path, start, end))
    later = _windows(rig, tmp_path, start, end + timedelta(hours=1))  # the file edited
    rig.clock.advance(timedelta(minutes=30))
    await _tick(rig, runner, later)
    await _tick(rig, runner, later)
    [incident] = await rig.store.list_incidents()
    assert [s.estimate_at for s in incident.steps] == [end, end + timedelta(hours=1)]
    # A new estimate goes to every channel, SMS included.
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened", "crisis_update"]
    assert "se extiende" in _email_to(rig, "c-2@example.com")[1]
    rig.clock.advance(timedelta(hours=1, minutes=30))  # the old end: still open
    await _tick(rig, runner, later)
    assert (await rig.store.incident(incident.id)).is_open
    rig.clock.advance(timedelta(hours=1))  # the new end
    await _tick(rig, runner, later)
    assert not (await rig.store.incident(incident.id)).is_open
    assert _sent(await _crisis(rig.store, "c-2"))[-1] == "crisis_resolved"


async def test_a_window_removed_while_open_is_resolved(rig: Rig, tmp_path: Path) -> None:
    await _segment(rig)
    start = rig.clock.now()
    runner = MaintenanceRunner(rig.store)
    await _tick(rig, runner, _windows(rig, tmp_path, start, start + timedelta(hours=3)))
    rig.clock.advance(timedelta(minutes=10))
    await _tick(rig, runner, ())  # the file no longer names it
    [incident] = await rig.store.list_incidents()
    assert not incident.is_open
    assert _sent(await _crisis(rig.store, "c-1")) == ["crisis_opened", "crisis_resolved"]


async def test_a_person_resolving_it_early_is_final(rig: Rig, tmp_path: Path) -> None:
    await _segment(rig)
    start = rig.clock.now()
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    runner = MaintenanceRunner(rig.store)
    await _tick(rig, runner, windows)
    [incident] = await rig.store.list_incidents()
    await rig.store.publish_step(
        incident.id, resolve=True, status=None, messages={}, estimate_at=None,
        keep_estimate=True, by="ana", now=rig.clock.now(), default_locale="es",
    )  # fmt: skip
    rig.clock.advance(timedelta(minutes=10))
    await _tick(rig, runner, windows)
    assert [i.id for i in await rig.store.list_incidents()] == [incident.id]  # not reopened
    history = await rig.store.incident_history(incident.id)
    assert [(h.kind, h.by) for h in history] == [("opened", SOURCE), ("resolved", "ana")]


async def test_a_person_s_new_estimate_is_theirs_not_a_moved_end(rig: Rig, tmp_path: Path) -> None:
    await _segment(rig)
    start = rig.clock.now()
    windows = _windows(rig, tmp_path, start, start + timedelta(hours=3))
    runner = MaintenanceRunner(rig.store)
    await _tick(rig, runner, windows)
    [incident] = await rig.store.list_incidents()
    later = start + timedelta(hours=5)
    await rig.store.publish_step(
        incident.id, resolve=False, status=None, messages={}, estimate_at=later,
        keep_estimate=False, by="ana", now=rig.clock.now(), default_locale="es",
    )  # fmt: skip
    rig.clock.advance(timedelta(minutes=10))
    await _tick(rig, runner, windows)
    steps = (await rig.store.incident(incident.id)).steps
    assert [s.estimate_at for s in steps] == [start + timedelta(hours=3), later]  # not undone


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path / "rules", ROOT / "templates"


async def test_reload_loads_the_windows_and_a_broken_file_keeps_the_last_good_ones(
    rig: Rig, folders: tuple[Path, Path]
) -> None:
    rules, templates = folders
    settings = Settings(rules_dir=str(rules), templates_dir=str(templates))
    reloader = Reloader(settings.rules, settings.render, rig.store, rig.clock, Metrics())
    assert reloader.load().ok and reloader.maintenance == ()
    start = rig.clock.now() + timedelta(days=1)
    (rules / "incidents" / "red.yaml").write_text(_file(start, start + timedelta(hours=2)))
    assert await reloader.reload() is True
    assert [m.id for m in reloader.maintenance] == ["red-2026-11"]
    good = reloader.maintenance
    (rules / "incidents" / "red.yaml").write_text(_file(start, start - timedelta(hours=2)))
    assert await reloader.reload() is False
    assert reloader.maintenance is good
    assert reloader.problems == [
        f"{rules / 'incidents' / 'red.yaml'}:6:10: end {(start - timedelta(hours=2)).isoformat()}"
        f" is not after start {start.isoformat()}"
    ]

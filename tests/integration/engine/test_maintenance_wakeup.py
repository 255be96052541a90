"""The daemon's scan wakes for a maintenance's start and end, not for its safety-net tick.

The daemon runs in this process on a clock that starts at a fixed instant (test mode),
with the scan interval an hour: only the timer set at the window's start and end can
open and resolve its incident within seconds.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notifier.config import Settings
from notifier.engine.wiring.daemon import Daemon
from notifier.store.store import Store
from tests.e2e.daemon import wait_for
from tests.integration.engine.test_maintenance_flow import SOURCE, _file
from tests.integration.rig import ROOT

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


async def test_the_scan_wakes_at_the_start_and_at_the_end(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    start, end = NOW + timedelta(seconds=3), NOW + timedelta(seconds=6)
    (tmp_path / "rules" / "incidents" / "red.yaml").write_text(_file(start, end))
    settings = Settings(
        database_url=db_url, test_mode=True, now=NOW, scan_interval=timedelta(hours=1),
        rules_dir=str(tmp_path / "rules"), templates_dir=str(ROOT / "templates"),
    )  # fmt: skip
    daemon = Daemon(settings, store)
    running = asyncio.create_task(daemon.run())
    try:
        [incident] = await wait_for(store.list_incidents, "the incident opened", within=30)
        assert incident.opened_by == SOURCE
        assert daemon.clock.now() >= start
        await wait_for(lambda: _resolved(store, incident.id), "the incident resolved", within=30)
        assert daemon.clock.now() >= end
    finally:
        daemon.stop()
        await asyncio.wait_for(running, 30)


async def _resolved(store: Store, incident_id: int) -> bool:
    return not (await store.incident(incident_id)).is_open

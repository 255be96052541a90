"""A hot-reloaded template bomb is refused by the daemon's checker; everyone still gets notified."""

from __future__ import annotations

import re
import shutil
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes
from tests.e2e.daemon import ROOT, daytime_zone, wait_for

pytestmark = pytest.mark.e2e

BOMB = "{% set s = 'x' * 60000 %}{{ s|join(s)|length }}\n"  # 3.6 GB if it were built


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match[1])


async def test_a_template_bomb_is_refused_on_reload_and_the_old_set_keeps_sending(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    daemon = await make_daemon(sqlite_db, NOTIFIER_TEMPLATES_DIR=str(templates)).started()
    sms = templates / "delivery_late" / "sms.es-AR.j2"
    sms.write_text("Hola\n" + BOMB, encoding="utf-8")
    daemon.send_signal(signal.SIGHUP)

    async def problems() -> list[str]:
        answer = await daemon.client.get("/readyz")
        assert answer.status_code == 200, answer.text
        return [p for p in answer.json()["problems"] if "sms.es-AR.j2" in p]

    [found] = await wait_for(problems, "the bomb's problem on /readyz")
    assert found.startswith(f"{sms}:2:")
    assert "template exceeds the 1 MB limit on one value ('join')" in found
    assert (await daemon.client.get("/healthz")).status_code == 200
    assert _peak_rss_kb(daemon.proc.pid) < 500_000

    # The last good es-AR template (the customer's own) still renders the SMS.
    now = datetime.now(UTC)
    await daemon.customer(
        "c-bomb", phone="+5491155550401", locale="es-AR", timezone=daytime_zone(now)
    )
    await daemon.promise("c-bomb", "order-bomb", now - timedelta(hours=2))
    [message] = await wait_for(lambda: fakes.sms_to("+5491155550401"), "the late promise's SMS")
    assert "order-bomb" in message["body"] and "xxx" not in message["body"]
    assert await daemon.stop() == 0

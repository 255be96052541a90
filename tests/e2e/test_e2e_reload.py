"""Hot reload never stops the daemon: a broken rule or template is refused, the last good set
keeps serving, the watcher keeps watching, and start-up with the broken set says where."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import DaemonFactory, Fakes
from tests.e2e.daemon import ROOT, Daemon, daytime_zone, wait_for

pytestmark = pytest.mark.e2e

HUGE = """rules:
  - id: forever-late
    match: {kind: delivery}
    when: {overdue: 99999999999999d}
    notify: {message: delivery_late}
"""
HUGE_PROBLEM = "4:21: invalid duration '99999999999999d': at most 3650d (ten years)"


async def _problems(daemon: Daemon) -> list[str]:
    answer = await daemon.client.get("/readyz")
    assert answer.status_code == 200, answer.text  # rule problems never un-ready it
    return list(answer.json()["problems"])


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once, so a reload never reads it half written."""
    draft = path.with_name(f".{path.name}.draft")  # neither *.yaml nor *.j2: never loaded
    draft.write_text(text)
    draft.replace(path)


async def _problems_matching(daemon: Daemon, pattern: re.Pattern[str], what: str) -> list[str]:
    async def found() -> list[str]:
        problems = await _problems(daemon)
        return problems if any(pattern.match(p) for p in problems) else []

    return list(await wait_for(found, what))


async def _late_sms(daemon: Daemon, fakes: Fakes, n: int) -> str:
    """Add a late delivery for a new customer; return the SMS it gets."""
    now = datetime.now(UTC)
    phone = f"+54911555504{n:02d}"
    await daemon.customer(f"c-reload-{n}", phone=phone, timezone=daytime_zone(now))
    await daemon.promise(f"c-reload-{n}", f"order-reload-{n}", now - timedelta(hours=2))
    [message] = await wait_for(lambda: fakes.sms_to(phone), f"the SMS of late promise {n}")
    return str(message["body"])


async def test_a_broken_rule_or_template_edit_keeps_the_daemon_and_the_last_good_set(
    sqlite_db: str, make_daemon: DaemonFactory, fakes: Fakes, tmp_path: Path
) -> None:
    rules, templates = tmp_path / "rules", tmp_path / "templates"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "templates", templates)
    env = {"NOTIFIER_RULES_DIR": str(rules), "NOTIFIER_TEMPLATES_DIR": str(templates)}
    daemon = await make_daemon(sqlite_db, **env).started()
    assert await _problems(daemon) == []

    # (a) A rule whose duration overflows any date, written into the watched folder.
    huge = rules / "zz-huge.yaml"
    _write(huge, HUGE)
    listed = re.compile(re.escape(f"{huge}:"))
    found = await _problems_matching(daemon, listed, "the huge rule's problem on /readyz")
    assert found == [f"{huge}:{HUGE_PROBLEM}"]
    assert "no llegó" in await _late_sms(daemon, fakes, 1)  # the last good set sends
    huge.unlink()
    await wait_for(lambda: _no_problems(daemon), "the set without the huge rule loaded")

    # (b) A template that raises an ordinary error when rendered.
    sms = templates / "delivery_late" / "sms.es.j2"
    good = sms.read_text()
    _write(sms, "{{ 1 / 0 }}\n")
    raised = re.compile(rf"^{re.escape(str(sms))}:1:\d+: .*division by zero")
    found = await _problems_matching(daemon, raised, "the template's problem on /readyz")
    assert len(found) == 1, found
    assert "no llegó" in await _late_sms(daemon, fakes, 2)  # the template compiled before

    # A good edit is loaded: the watcher still watches, and the new text goes out.
    _write(sms, good.replace("no llegó", "no llegó (recargado)"))
    await wait_for(lambda: _no_problems(daemon), "the good edit loaded")
    assert "(recargado)" in await _late_sms(daemon, fakes, 3)
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert await daemon.stop() == 0
    assert "Traceback" not in daemon.stderr()

    # Start-up with the broken set: exit 1, each problem at path:line:column, no traceback.
    huge.write_text(HUGE)
    sms.write_text("{{ 1 / 0 }}\n")
    broken = make_daemon(sqlite_db, **env)
    broken.start()
    assert await broken.exited() == 1
    err = broken.stderr()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert f"{huge}:{HUGE_PROBLEM}" in lines, err
    assert any(re.match(rf"^{re.escape(str(sms))}:1:\d+: .*division by zero", x) for x in lines), (
        err
    )


async def _no_problems(daemon: Daemon) -> bool:
    return await _problems(daemon) == []

"""The README's first command: `notifier demo` shows apologies within a minute; Ctrl-C stops it."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from tests.e2e.daemon import ROOT, Daemon, base_env, wait_for
from tests.fakes.smtp_server import free_port

pytestmark = pytest.mark.e2e


async def test_notifier_demo_prints_apologies_within_a_minute_and_stops_on_sigint(
    tmp_path: Path,
) -> None:
    for folder in ("rules", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    env = base_env("", free_port())
    # As a newcomer runs it: the defaults, in a folder holding rules/ and templates/.
    for name in (
        "NOTIFIER_DATABASE_URL",
        "NOTIFIER_API_TOKEN",
        "NOTIFIER_TEST_MODE",
        "NOTIFIER_SCAN_INTERVAL",
        "NOTIFIER_RULES_DIR",
        "NOTIFIER_TEMPLATES_DIR",
    ):
        del env[name]  # fmt: skip
    demo = Daemon(env, tmp_path, ("demo",))
    try:
        demo.start()
        await wait_for(lambda: "--- sms to " in demo.stdout(), "an SMS apology on the console")
        demo.send_signal(signal.SIGINT)
        assert await demo.exited() == 0
    finally:
        await demo.close()
    assert (tmp_path / "notifier.db").exists()
    assert "notifier demo: loaded" in demo.stderr()
    assert "(bearer token: demo-token)" in demo.stderr()  # README's token, never an empty one

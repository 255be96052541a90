"""The daemon's stderr off a terminal: JSON lines only, exceptions as data, no traceback text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from tests.e2e.daemon import Daemon, base_env, wait_for
from tests.fakes.smtp_server import free_port

pytestmark = pytest.mark.e2e


def _log_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line: the CLI's own `notifier: ...` announcements, or one JSON object."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("notifier: ")]
    return [json.loads(line) for line in lines]


async def test_a_database_failure_under_the_daemon_logs_structured_exceptions_only(
    sqlite_db: str, tmp_path: Path
) -> None:
    daemon = Daemon(base_env(sqlite_db, free_port()), tmp_path)
    try:
        await daemon.started()
        # Something outside notifier breaks the database: every scan and the API now fail.
        path = make_url(sqlite_db).database
        assert path is not None
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE promises")
        await daemon.customer("ana", phone="+5491155551234")
        answer = await daemon.client.get("/v1/customers/ana/timeline")
        assert answer.status_code >= 500

        def exceptions() -> list[dict[str, Any]]:
            return [line for line in _log_lines(daemon.stderr()) if "exception" in line]

        found = await wait_for(exceptions, "an exception in the daemon's log", 60)
        assert await daemon.stop() == 0
    finally:
        await daemon.close()
    for line in found:
        [*_, last] = line["exception"]
        assert last["exc_type"] and last["exc_value"]
        assert all({"filename", "lineno", "name"} <= set(f) for f in last["frames"])
    _log_lines(daemon.stderr())  # the whole run, shutdown included

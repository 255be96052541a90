"""`notifier run` as operators start it: NOTIFIER_DEMO loads no demo; a bad setting is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier import __version__
from notifier.store.convert import customers, promises
from notifier.store.store import Store
from tests.e2e.daemon import Daemon, base_env, notifier
from tests.fakes.smtp_server import free_port

pytestmark = pytest.mark.e2e


async def _count(url: str) -> tuple[int, int]:
    store = Store.open(url)
    try:
        async with store.reading() as conn:
            found = await conn.execute(
                select(
                    select(func.count()).select_from(customers).scalar_subquery(),
                    select(func.count()).select_from(promises).scalar_subquery(),
                )
            )
            people, promised = found.one()
            return int(people), int(promised)
    finally:
        await store.close()


async def test_notifier_demo_set_in_the_environment_never_loads_demo_data_into_run(
    e2e_db: str, tmp_path: Path
) -> None:
    # README: `export NOTIFIER_DEMO=1` in a second terminal; that shell may start a daemon.
    env = base_env(e2e_db, free_port(), NOTIFIER_DEMO="1")
    del env["NOTIFIER_API_TOKEN"]
    daemon = Daemon(env, tmp_path)
    try:
        await daemon.started()
        assert await daemon.stop() == 0
    finally:
        await daemon.close()
    assert await _count(e2e_db) == (0, 0)
    err = daemon.stderr()
    assert "notifier demo:" not in err and "bearer token" not in err
    assert (
        "notifier: warning: NOTIFIER_DEMO is set: channels without credentials print instead "
        "of sending; demo data is loaded only by 'notifier demo'"
    ) in err.splitlines()
    assert (
        "notifier: warning: NOTIFIER_API_TOKEN is not set: /v1 answers 503 until it is"
    ) in err.splitlines()


@pytest.mark.parametrize(
    ("url", "line"),
    [
        pytest.param(
            "postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/db",
            "notifier: error: database postgresql+asyncpg://app:***@127.0.0.1:{port}/db: "
            "cannot connect (connection refused)",
            id="closed-port",
        ),
        pytest.param(
            "mysql://app:hunter2@127.0.0.1:{port}/db",
            "notifier: error: NOTIFIER_DATABASE_URL: 'mysql://app:***@127.0.0.1:{port}/db' is not "
            "a supported database: notifier supports sqlite+aiosqlite:///path/to/notifier.db and "
            "postgresql+asyncpg://user:password@host:port/db",
            id="mysql",
        ),
    ],
)
def test_run_on_a_database_it_cannot_use_exits_1_with_one_line(
    tmp_path: Path, url: str, line: str
) -> None:
    port = free_port()  # nothing listens there
    env = base_env(url.format(port=port), free_port())
    done = notifier("run", env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [line.format(port=port)]


def test_run_with_an_invalid_interval_names_the_variable(tmp_path: Path) -> None:
    env = base_env(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}", free_port())
    env["NOTIFIER_SCAN_INTERVAL"] = "abc"
    done = notifier("run", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "notifier: error: NOTIFIER_SCAN_INTERVAL: 'abc' is not a duration (e.g. 30s, 5m)"
    ]


def test_version(tmp_path: Path) -> None:
    done = notifier("--version", env=base_env("", 0), cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"notifier {__version__}\n", "")
